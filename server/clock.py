"""The runtime's clock (``rt.clock``): what schedules read as "now", so tests can step time instead of waiting.

Production uses ``SystemClock``; a test gives the runtime a ``TestClock`` and moves it (``set``,
``advance``). Only code that decides *when* (the schedule tick, trigger, backfill, the next runs
shown) reads it; delivery itself keeps the wall clock.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class TestClock:
    """A clock that stands still until told to move; thread-safe."""

    __test__ = False  # not a pytest test class

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("TestClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when.astimezone(UTC)

    def advance(self, seconds: float = 0, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds, **delta)
            return self._now
