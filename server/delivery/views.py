"""Decrypted target views, kept per worker process between batches.

Building a view decrypts the credentials and validates config and credentials against the channel's
models: about a third of a batch's claim before this cache. A view is reused only while the target row
it was built from is unchanged: the key holds the target's id, its ``updated_at`` (set by every update,
pause and rotation) and the encrypted credentials themselves, which change with every write (a fresh
nonce each time). A stale credential can therefore never be served after an update.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any, Protocol

from adapters import TargetView
from server.crypto import SecretBox
from server.models import TargetState
from server.targets.repository import target_view, view_secrets

View = tuple[TargetView[Any, Any], list[str]]


class _Versioned(TargetState, Protocol):
    @property
    def updated_at(self) -> datetime: ...


class TargetViews:
    """The latest view of each of up to ``size`` targets (least recently used dropped first); thread-safe.
    A target's older version is replaced, not kept beside the new one."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._views: OrderedDict[str, tuple[tuple[datetime, bytes | None], View]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, target: _Versioned, box: SecretBox) -> View:
        version = (target.updated_at, target.credentials_blob)
        with self._lock:
            found = self._views.get(target.id)
            if found is not None and found[0] == version:
                self._views.move_to_end(target.id)
                return found[1]
        view = target_view(target, box)
        built = (view, view_secrets(view))
        if self.size == 0:
            return built
        with self._lock:
            self._views[target.id] = (version, built)
            self._views.move_to_end(target.id)
            while len(self._views) > self.size:
                self._views.popitem(last=False)
        return built

    def __len__(self) -> int:
        return len(self._views)
