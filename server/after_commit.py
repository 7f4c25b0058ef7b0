"""Side effects that may only happen once a transaction committed: enqueue a message, publish an event.

Operations (through ``OpContext``) and the delivery engine (through ``Effects``) queue them here.
They run in the order they were added. Each runs even when an earlier one raised: the rows are
already committed, so a failed announcement must not hide the others (the sweeper re-sends a lost
message); the failure is logged with its traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Action = Callable[[], Any]


class AfterCommit:
    def __init__(self) -> None:
        self._actions: list[Action] = []

    def __len__(self) -> int:
        return len(self._actions)

    def add(self, action: Action) -> None:
        self._actions.append(action)

    def run(self) -> None:
        """After commit: every action once, in order; the queue is empty afterwards."""
        actions, self._actions = self._actions, []
        for action in actions:
            try:
                action()
            except Exception:
                log.exception("after-commit action %r failed", action)

    def drop(self) -> None:
        """After a rollback: forget every action."""
        self._actions = []
