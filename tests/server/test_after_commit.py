"""The one after-commit queue of operations and the delivery engine."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from server.after_commit import AfterCommit


def test_actions_run_once_in_order() -> None:
    queue, ran = AfterCommit(), list[str]()

    def step(name: str) -> Callable[[], None]:
        return lambda: ran.append(name)

    for name in ("enqueue", "publish", "announce"):
        queue.add(step(name))
    assert len(queue) == 3
    queue.run()
    queue.run()
    assert ran == ["enqueue", "publish", "announce"]
    assert len(queue) == 0


def test_a_failing_action_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    queue, ran = AfterCommit(), list[str]()

    def broken() -> None:
        raise RuntimeError("broker down")

    queue.add(lambda: ran.append("first"))
    queue.add(broken)
    queue.add(lambda: ran.append("last"))
    with caplog.at_level(logging.ERROR, logger="server.after_commit"):
        queue.run()
    assert ran == ["first", "last"]
    [record] = caplog.records
    assert record.message.startswith("after-commit action ") and record.message.endswith(" failed")
    assert record.exc_info is not None and str(record.exc_info[1]) == "broker down"


def test_dropped_actions_never_run() -> None:
    queue, ran = AfterCommit(), list[str]()
    queue.add(lambda: ran.append("enqueue"))
    queue.drop()
    queue.run()
    assert ran == []
    assert len(queue) == 0
