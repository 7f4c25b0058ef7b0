"""Wire models of ``select`` on a plan: pick ``count`` members of a pool fairly, and what was picked."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from server.wire import Id, Key, Label, WireModel

MAX_COUNT = 100
MAX_TIERS = 10
MAX_WEIGHT = 1_000

Weight = Annotated[int, Field(ge=1, le=MAX_WEIGHT)]
Tier = Annotated[list[Label], Field(min_length=1, max_length=20)]


class SelectionOf(StrEnum):
    TARGETS = "targets"
    RECIPIENTS = "recipients"


class SelectionStrategy(StrEnum):
    ROUND_ROBIN = "round_robin"  # the starting tier rotates across plans; least recently picked first within one
    LEAST_RECENT = "least_recent"  # least recently picked first (never picked before all), tier by tier
    WEIGHTED = "weighted"  # a weighted draw without replacement, deterministic given the seed
    HEALTH = "health"  # targets only: the best recent success rate first (closed circuit, not paused)


class CapPerPeriodInput(WireModel):
    count: int = Field(ge=1, le=10_000, description="At most this many picks of one member ...")
    period_seconds: int = Field(ge=1, le=31_536_000, description="... within this many seconds (a sliding window).")


class SelectInput(WireModel):
    of: SelectionOf = Field(
        SelectionOf.TARGETS,
        description="Pick targets (the plan's targets; no targetIds/targetLabels then) or recipients (the plan's "
        "recipients, reached through its targetIds/targetLabels; no recipientIds/recipientLabels then).",
    )
    count: int = Field(ge=1, le=MAX_COUNT, description="How many members to pick.")
    labels: list[Label] = Field(
        default_factory=list, max_length=20, description="The pool: members carrying any of these labels."
    )
    tiers: list[Tier] = Field(
        default_factory=list,
        max_length=MAX_TIERS,
        description="Or the pool in ordered levels, each a list of labels (a member belongs to its first level): "
        "picks fill from the first level on; round_robin rotates which level starts.",
    )
    strategy: SelectionStrategy = Field(SelectionStrategy.ROUND_ROBIN, description="How members are ordered.")
    weights: dict[Key, Weight] = Field(
        default_factory=dict,
        max_length=100,
        description="weighted: weight (1-1000) by member id or label (a member's id first, else its highest "
        "label's, else 1).",
    )
    seed: str | None = Field(None, max_length=200, description="weighted: the draw's seed (default: the content id).")
    cap_per_period: CapPerPeriodInput | None = Field(None, description="A member over this cap is skipped.")
    pool: Key | None = Field(
        None, description="The pool's name (its fairness state); default derived from of and the labels or tiers."
    )


class SelectionSkip(WireModel):
    id: Id = Field(description="The member skipped (tgt_… or rcp_…).")
    reason: str


class SelectionRead(WireModel):
    pool: str
    of: SelectionOf
    strategy: SelectionStrategy
    requested: int = Field(description="The count asked for.")
    picked: list[Id] = Field(description="The members picked, in pick order.")
    skipped: list[SelectionSkip] = Field(description="Members that could not be picked, and why.")
    shortfall: int = Field(description="requested - picked: fewer members were eligible than asked for.")
