"""The waiting helpers themselves: what they return, and what a timeout says."""

from __future__ import annotations

import itertools

import pytest

from tests.support.waiting import holds, holds_async, until, until_async


def test_until_returns_the_first_accepted_value() -> None:
    counter = itertools.count()
    assert until(lambda: next(counter) >= 3 and "ready", interval=0) == "ready"
    assert until(lambda: next(counter), done=lambda n: n >= 10, interval=0) == 10


def test_until_times_out_with_the_message_and_the_last_value() -> None:
    with pytest.raises(AssertionError) as raised:
        until(lambda: [], timeout=0.05, interval=0.01, message="the receiver got a request")
    assert str(raised.value) == "the receiver got a request not met within 0.05 s; last value: []"


def test_holds_fails_as_soon_as_the_condition_breaks() -> None:
    counter = itertools.count()
    with pytest.raises(AssertionError) as raised:
        holds(lambda: next(counter) < 2, seconds=5, interval=0, message="nothing sent")
    assert str(raised.value) == "nothing sent stopped holding; last value: False"
    assert next(counter) == 3
    assert holds(lambda: "quiet", seconds=0.02, interval=0.01) == "quiet"


@pytest.mark.anyio
async def test_async_twins_take_sync_or_async_conditions() -> None:
    counter = itertools.count()

    async def read() -> int:
        return next(counter)

    assert await until_async(read, done=lambda n: n == 2, interval=0) == 2
    assert await until_async(lambda: next(counter) == 5, interval=0) is True
    with pytest.raises(AssertionError, match=r"^plan final not met within 0.02 s; last value: 'running'$"):
        await until_async(lambda: "running", timeout=0.02, interval=0.01, message="plan final", done=lambda s: False)
    assert await holds_async(lambda: "quiet", seconds=0.02, interval=0.01) == "quiet"
    with pytest.raises(AssertionError, match=r"^no late request stopped holding; last value: 0$"):
        await holds_async(lambda: 0, seconds=1, message="no late request")
