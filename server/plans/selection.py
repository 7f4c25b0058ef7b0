"""``select`` on a plan: the plan's targets (or recipients) picked fairly from a pool, in its transaction.

Who may be picked: a target that is active, not paused or rate-limited, with a closed circuit; a recipient
that is active and reachable (not unsubscribed or bounced, with an address) through one of the plan's
addressed targets. Then neither already given this content id (unless ``redistribute``) nor over
``capPerPeriod``. Fewer eligible than ``count``: the plan takes those there are and says so (``shortfall``,
and in its hint); none: the plan is refused and nothing is written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Row, case, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from server.context import OpContext
from server.errors import ValidationFailed
from server.hints import NextAction
from server.jobs.status import RATE_LIMIT_PAUSE
from server.models import Attempt, Plan, Recipient, Target
from server.plans import audience as audience_mod
from server.plans.schemas import CreatePlanInput, PlanPayload
from server.recipients.repository import has_label as recipient_has_label
from server.selection import picking
from server.selection.schemas import SelectInput, SelectionOf, SelectionStrategy
from server.targets.circuit import COUNTED_OUTCOMES
from server.targets.repository import check_labels, is_paused
from server.targets.repository import has_label as target_has_label
from server.wire import ID_MAX

MAX_MEMBERS = 1_000  # members a pool may hold (every one is considered on every pick)
HEALTH_ATTEMPTS = 20
T = TypeVar("T")  # health: the success rate over a target's last this many attempts


@dataclass
class Choice:
    """What the plan's ``select`` picked (nothing without ``select``), kept from resolving to recording."""

    selection: picking.Selection | None = None

    def shown(self, payload: PlanPayload) -> PlanPayload:
        """A dry run's preview with the picks it would make."""
        if self.selection is None or payload.preview is None:
            return payload
        preview = payload.preview.model_copy(update={"selection": self.selection.read})
        return payload.model_copy(update={"preview": preview})

    def record(self, ctx: OpContext, session: Session, plan: Plan) -> None:
        if self.selection is None:
            return
        now = ctx.runtime.clock.now()
        picking.record(session, self.selection, ctx.workspace_id, plan.id, plan.content["id"], now)
        plan.selection = self.selection.read.model_dump(mode="json", by_alias=True)
        session.add(plan)
        session.flush()

    def hinted(self, payload: PlanPayload) -> PlanPayload:
        """With a shortfall the hint says so first."""
        read = self.selection.read if self.selection else None
        if read is None or not read.shortfall:
            return payload
        action: NextAction = payload.recommended_next_action
        short = (
            f"Picked {len(read.picked)} of {read.requested} from pool {read.pool!r}: {read.shortfall} short, "
            f"{len(read.skipped)} member(s) skipped (plan.selection.skipped says why). "
        )
        return payload.model_copy(
            update={"recommended_next_action": action.model_copy(update={"reason": short + action.reason})}
        )


def check(data: CreatePlanInput) -> None:
    """The rules of ``select`` against the rest of the plan; each refusal says what to send instead."""
    spec = data.select
    if spec is None:
        return
    if bool(spec.labels) == bool(spec.tiers):
        raise ValidationFailed(
            "select needs its pool as labels or as tiers (a list of label lists), exactly one of them.",
            field="select.labels",
        )
    if spec.of == SelectionOf.TARGETS and (data.target_ids or data.target_labels):
        raise ValidationFailed(
            "select picks the plan's targets: leave targetIds and targetLabels out (or select of: recipients).",
            field="select",
        )
    if spec.of == SelectionOf.RECIPIENTS and (data.recipient_ids or data.recipient_labels):
        raise ValidationFailed(
            "select picks the plan's recipients: leave recipientIds and recipientLabels out.", field="select"
        )
    if spec.of == SelectionOf.RECIPIENTS and spec.strategy == SelectionStrategy.HEALTH:
        raise ValidationFailed(
            "The health strategy ranks targets (circuit, pauses, success rate); for recipients use round_robin, "
            "least_recent or weighted.",
            field="select.strategy",
        )
    if (spec.weights or spec.seed) and spec.strategy != SelectionStrategy.WEIGHTED:
        raise ValidationFailed(
            "select.weights and select.seed apply to strategy weighted only.", field="select.weights"
        )


def pool_name(spec: SelectInput) -> str:
    """``select.pool``, or one derived from the spec: ``targets:gold|silver`` (long ones end in a digest)."""
    if spec.pool:
        return spec.pool
    levels = spec.tiers or [spec.labels]
    name = f"{spec.of.value}:" + "|".join(",".join(sorted(set(level))) for level in levels)
    return name if len(name) <= ID_MAX else name[:180] + "~" + hashlib.sha256(name.encode()).hexdigest()[:16]


def pick_targets(ctx: OpContext, session: Session, data: CreatePlanInput, choice: Choice) -> list[Target]:
    spec = _spec(data)
    rows = _targets(session, ctx.workspace_id, spec)
    rates = _success_rates(session, [t.id for t in rows]) if spec.strategy == SelectionStrategy.HEALTH else {}
    candidates = {
        t.id: picking.Candidate(t.id, tuple(t.labels or ()), _target_reason(t), rates.get(t.id)) for t in rows
    }
    choice.selection = _pick(ctx, session, data, _levels(spec, rows, candidates))
    by_id = {t.id: t for t in rows}
    return [by_id[tid] for tid in choice.selection.read.picked]


def pick_recipients(
    ctx: OpContext, session: Session, data: CreatePlanInput, targets: list[Target], choice: Choice
) -> audience_mod.Audience:
    spec = _spec(data)
    rows = _recipients(session, ctx.workspace_id, spec)
    reaches = [audience_mod.reach(t.channel, t.config) for t in targets if audience_mod.is_addressed(t.channel, True)]
    candidates = {r.id: picking.Candidate(r.id, tuple(r.labels or ()), _recipient_reason(r, reaches)) for r in rows}
    choice.selection = _pick(ctx, session, data, _levels(spec, rows, candidates))
    return audience_mod.resolve(
        session, ctx.workspace_id, choice.selection.read.picked, [], ctx.runtime.settings.max_recipients_per_plan
    )


def _spec(data: CreatePlanInput) -> SelectInput:
    assert data.select is not None
    return data.select


def _pick(
    ctx: OpContext, session: Session, data: CreatePlanInput, levels: list[list[picking.Candidate]]
) -> picking.Selection:
    spec = _spec(data)
    return picking.pick(
        session,
        ctx.workspace_id,
        spec,
        pool_name(spec),
        levels,
        content_id=data.content.id,
        now=ctx.runtime.clock.now(),
        dry_run=data.dry_run,
        redistribute=data.redistribute,
        retry=data.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude={"dry_run"}),
    )


def _pool_labels(spec: SelectInput) -> list[str]:
    return check_labels([label for level in (spec.tiers or [spec.labels]) for label in level], "select.labels")


def _targets(session: Session, workspace_id: str, spec: SelectInput) -> list[Target]:
    query = select(Target).where(Target.workspace_id == workspace_id, or_(*map(target_has_label, _pool_labels(spec))))
    return _bounded(list(session.exec(query.order_by(col(Target.id)).limit(MAX_MEMBERS + 1)).all()))


def _recipients(session: Session, workspace_id: str, spec: SelectInput) -> list[Row]:
    query = sa_select(*audience_mod.LIGHT, col(Recipient.labels)).where(
        col(Recipient.workspace_id) == workspace_id, or_(*map(recipient_has_label, _pool_labels(spec)))
    )
    return _bounded(list(session.execute(query.order_by(col(Recipient.id)).limit(MAX_MEMBERS + 1)).all()))


def _bounded(rows: list[T]) -> list[T]:
    if len(rows) > MAX_MEMBERS:
        raise ValidationFailed(
            f"A select pool may hold at most {MAX_MEMBERS} members; its labels match more. Narrow the labels.",
            field="select.labels",
        )
    return rows


def _levels(
    spec: SelectInput, rows: Sequence[Target | Row], candidates: dict[str, picking.Candidate]
) -> list[list[picking.Candidate]]:
    """Each member in the first level whose labels it carries, in id order within a level."""
    tiers = spec.tiers or [spec.labels]
    levels: list[list[picking.Candidate]] = [[] for _ in tiers]
    for row in rows:
        carried = set(row.labels or ())
        index = next((i for i, tier in enumerate(tiers) if carried & set(tier)), None)
        if index is not None:  # SQLite's LIKE folds case: a label that only looks the same is not the label
            levels[index].append(candidates[row.id])
    return levels


def _target_reason(target: Target) -> str | None:
    if not target.active:
        return "inactive"
    if is_paused(target):
        assert target.paused_until is not None
        until = target.paused_until.isoformat()
        if RATE_LIMIT_PAUSE in (target.pause_reason or ""):
            return f"rate-limited until {until}"
        return f"paused until {until}: {target.pause_reason}"
    if target.circuit_state == "open":
        return f"circuit open: {target.circuit_reason}"
    if target.circuit_state == "half_open":
        return "circuit half-open: a probe delivery decides"
    return None


def _recipient_reason(recipient: Row, reaches: list[audience_mod.Reach]) -> str | None:
    """None when one of the plan's addressed targets can reach the recipient, else the first target's reason."""
    reasons = [audience_mod.skip_reason(recipient, how) for how in reaches] or [
        None if recipient.active else "recipient inactive"
    ]
    return None if None in reasons else reasons[0]


def _success_rates(session: Session, target_ids: list[str]) -> dict[str, float]:
    """Delivered / attempted over each target's last HEALTH_ATTEMPTS attempts (429s not counted)."""
    if not target_ids:
        return {}
    recent = (
        sa_select(
            col(Attempt.target_id).label("target_id"),
            col(Attempt.outcome).label("outcome"),
            func.row_number()
            .over(
                partition_by=col(Attempt.target_id), order_by=(col(Attempt.started_at).desc(), col(Attempt.id).desc())
            )
            .label("rank"),
        )
        .where(col(Attempt.target_id).in_(target_ids), col(Attempt.outcome).in_(COUNTED_OUTCOMES))
        .subquery()
    )
    rows = session.execute(
        sa_select(recent.c.target_id, func.count(), func.sum(case((recent.c.outcome == "delivered", 1), else_=0)))
        .where(recent.c.rank <= HEALTH_ATTEMPTS)
        .group_by(recent.c.target_id)
    ).all()
    return {target_id: (delivered or 0) / total for target_id, total, delivered in rows}
