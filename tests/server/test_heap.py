"""heap.settle: what lives at start-up is frozen, what comes later is still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from server import heap


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_settle_freezes_what_is_alive_and_later_garbage_is_still_collected(unfrozen: None) -> None:
    before = Node()
    frozen = heap.settle()
    assert frozen == gc.get_freeze_count() > 0
    assert all(before is not obj for generation in range(3) for obj in gc.get_objects(generation))

    later = Node()
    gone = weakref.ref(later)
    del later
    gc.collect()
    assert gone() is None
