"""A job queue that records every message instead of sending it (no broker)."""

from __future__ import annotations

import threading
from datetime import datetime


class RecordingQueue:
    """Every message sent, as (job ids, eta). ``backlog`` is what the sweeper sees: 0 (drained) unless
    ``never_drained``, when every recorded message still counts as waiting."""

    def __init__(self, never_drained: bool = False) -> None:
        self.sent: list[tuple[list[str], datetime | None]] = []
        self._never_drained = never_drained
        self._lock = threading.Lock()

    def enqueue(self, job_ids: list[str], eta: datetime | None = None) -> None:
        with self._lock:
            self.sent.append((list(job_ids), eta))

    def backlog(self) -> int:
        return len(self.sent) if self._never_drained else 0
