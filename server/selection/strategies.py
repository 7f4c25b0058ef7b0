"""The order members are picked in, per strategy: pure functions of the pool's state, no database.

Members come in levels (``tiers``; labels alone are one level). Every strategy orders each level and
fills from the first level on; ``round_robin`` starts at the level the pool's pointer names and goes round.
Ties are broken by the member's place in its level (ids, in order), so each order is exact.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from server.selection.schemas import SelectionStrategy

_NEVER = -1  # a member never picked is less recent than any picked one


@dataclass(frozen=True)
class Member:
    id: str
    labels: tuple[str, ...] = ()
    last_sequence: int = _NEVER  # the pool's number of its last pick
    success_rate: float | None = None  # health: delivered / attempts over its recent attempts (None: none yet)


@dataclass(frozen=True)
class Order:
    strategy: SelectionStrategy
    pointer: int = 0
    weights: dict[str, int] = field(default_factory=dict)
    seed: str = ""


def ordered(levels: Sequence[Sequence[Member]], order: Order) -> list[Member]:
    """Every member, in the order they would be picked."""
    start = order.pointer % len(levels) if order.strategy == SelectionStrategy.ROUND_ROBIN and levels else 0
    rotated = [*levels[start:], *levels[:start]]
    return [member for level in rotated for member in _within(level, order)]


def _within(level: Sequence[Member], order: Order) -> list[Member]:
    place = {member.id: index for index, member in enumerate(level)}
    if order.strategy == SelectionStrategy.WEIGHTED:
        return sorted(level, key=lambda m: (-_draw(m, order), place[m.id]))
    if order.strategy == SelectionStrategy.HEALTH:
        return sorted(level, key=lambda m: (-_rate(m), m.last_sequence, place[m.id]))
    return sorted(level, key=lambda m: (m.last_sequence, place[m.id]))


def weight(member: Member, weights: dict[str, int]) -> int:
    if member.id in weights:
        return weights[member.id]
    return max((weights[label] for label in member.labels if label in weights), default=1)


def _draw(member: Member, order: Order) -> float:
    """Efraimidis-Spirakis: u ** (1 / w) with u uniform in (0, 1) from the seed and the member's id; sorting by it
    descending is a weighted draw without replacement."""
    digest = hashlib.sha256(f"{order.seed}\x00{member.id}".encode()).digest()
    uniform = (int.from_bytes(digest[:8], "big") + 1) / (2**64 + 2)
    return float(uniform ** (1 / weight(member, order.weights)))


def _rate(member: Member) -> float:
    return 1.0 if member.success_rate is None else member.success_rate
