"""``fallbackTargetId``: checked at create and update so every chain ends within ``MAX_CHAIN_TARGETS``
targets (the primary included) and none loops back."""

from __future__ import annotations

from sqlmodel import Session, select

from server.errors import ValidationFailed
from server.hints import hint
from server.ids import check_id
from server.models import Target

MAX_CHAIN_TARGETS = 3  # a delivery tries at most 3 targets: the primary and two fallbacks
FIELD = "fallbackTargetId"


def _describe(chain: list[str], names: dict[str, str]) -> str:
    return " → ".join(f"{target_id} ({names[target_id]})" if target_id in names else target_id for target_id in chain)


def check_fallback(session: Session, workspace_id: str, target_id: str, name: str, fallback_id: str | None) -> None:
    """Refuse ``target_id`` (named ``name``; a new target's id is a placeholder) falling back to ``fallback_id``
    when that target is unknown, is itself, or the change makes a chain too long or a cycle."""
    if fallback_id is None:
        return
    check_id("target", fallback_id, FIELD)
    rows = session.exec(
        select(Target.id, Target.name, Target.fallback_target_id).where(Target.workspace_id == workspace_id)
    ).all()
    names = {target: label for target, label, _ in rows}
    if fallback_id not in names:
        raise ValidationFailed(
            f"fallbackTargetId {fallback_id} is not a target of this workspace.",
            field=FIELD,
            next_action=hint("list_distribution_targets", "List the targets to pick a fallback."),
        )
    names[target_id] = name
    if fallback_id == target_id:
        raise ValidationFailed(f"A target cannot be its own fallback ({_describe([target_id], names)}).", field=FIELD)
    links = {target: following for target, _, following in rows if following}
    links[target_id] = fallback_id
    pointed_at = set(links.values())
    for start in sorted(links, key=lambda source: source in pointed_at):  # chain heads first: the longest chains
        chain = [start]
        while chain[-1] in links and len(chain) <= MAX_CHAIN_TARGETS:
            following = links[chain[-1]]
            if following in chain:
                if target_id in chain:
                    cycle = chain[chain.index(following) :] + [following]
                    raise ValidationFailed(
                        f"fallbackTargetId would make a cycle: {_describe(cycle, names)}. Point the fallback at "
                        "a target outside this chain.",
                        field=FIELD,
                    )
                break
            chain.append(following)
        if len(chain) > MAX_CHAIN_TARGETS and target_id in chain:
            more = " → …" if chain[-1] in links else ""
            raise ValidationFailed(
                f"fallbackTargetId would make a chain of more than {MAX_CHAIN_TARGETS} targets: "
                f"{_describe(chain, names)}{more}. A delivery tries at most {MAX_CHAIN_TARGETS} targets (the "
                "primary and two fallbacks); point the fallback at a target nearer the end of its chain, or "
                "shorten the chain.",
                field=FIELD,
            )
