"""Wait for a condition with a deadline: `until` (sync) and `until_async` instead of sleeps and polling loops.

The condition returns a value; a truthy value (or one ``done`` accepts) ends the wait and is returned. On
timeout an AssertionError names what was awaited and shows the last value seen. `holds` is the other side:
"nothing happens for N seconds", checked all along instead of once after a sleep.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

T = TypeVar("T")


def _timed_out(message: str, timeout: float, last: object) -> AssertionError:
    return AssertionError(f"{message or 'condition'} not met within {timeout:g} s; last value: {last!r}")


async def _value(condition: Callable[[], Awaitable[T]] | Callable[[], T]) -> T:
    value = condition()
    if inspect.isawaitable(value):
        return await value
    return value


def until(
    condition: Callable[[], T],
    timeout: float = 10,
    interval: float = 0.05,
    message: str = "",
    done: Callable[[T], object] = bool,
) -> T:
    """Call ``condition`` every ``interval`` seconds until ``done(value)`` (default: the value is truthy).

    Returns that value. Pass ``done`` to wait on a value you then assert on (it is shown on timeout).
    """
    deadline = time.monotonic() + timeout
    while True:
        last = condition()
        if done(last):
            return last
        if time.monotonic() >= deadline:
            raise _timed_out(message, timeout, last)
        time.sleep(interval)


async def until_async(
    condition: Callable[[], Awaitable[T]] | Callable[[], T],
    timeout: float = 10,
    interval: float = 0.05,
    message: str = "",
    done: Callable[[T], object] = bool,
) -> T:
    """The async twin of `until`; ``condition`` may be a coroutine function (awaited) or a plain function."""
    deadline = time.monotonic() + timeout
    while True:
        last = await _value(condition)
        if done(last):
            return last
        if time.monotonic() >= deadline:
            raise _timed_out(message, timeout, last)
        await asyncio.sleep(interval)


@asynccontextmanager
async def within(seconds: float, message: str) -> AsyncIterator[None]:
    """A deadline for a block that waits on something else (a stream, a socket): fail, naming it, when it runs over."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise AssertionError(f"{message} not within {seconds:g} s") from None


def holds(condition: Callable[[], T], seconds: float, interval: float = 0.05, message: str = "") -> T:
    """Check that ``condition`` stays truthy for ``seconds`` (a "nothing happens" check); return its last value."""
    deadline = time.monotonic() + seconds
    while True:
        last = condition()
        if not last:
            raise AssertionError(f"{message or 'condition'} stopped holding; last value: {last!r}")
        if time.monotonic() >= deadline:
            return last
        time.sleep(interval)


async def holds_async(condition: Callable[[], T], seconds: float, interval: float = 0.05, message: str = "") -> T:
    """The async twin of `holds` (``condition`` is sync: it reads state, the event loop runs the rest)."""
    deadline = time.monotonic() + seconds
    while True:
        last = condition()
        if not last:
            raise AssertionError(f"{message or 'condition'} stopped holding; last value: {last!r}")
        if time.monotonic() >= deadline:
            return last
        await asyncio.sleep(interval)
