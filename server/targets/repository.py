"""Loading targets and turning table rows into what adapters and the wire see."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, String, cast
from sqlmodel import Session, select

from adapters import ConfigError, TargetView, get_channel
from server.config import Settings
from server.crypto import SecretBox
from server.errors import NotFound, ValidationFailed
from server.hints import hint
from server.ids import check_id
from server.models import Target, TargetState
from server.policy import PolicyInput
from server.redaction import secret_values
from server.targets.schemas import CircuitRead, RateLimit, RetryPolicy, TargetRead

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")


def load_target(
    session: Session, workspace_id: str, target_id: str, field: str = "id", *, lock: bool = False
) -> Target:
    check_id("target", target_id, field)
    query = select(Target).where(Target.id == target_id, Target.workspace_id == workspace_id)
    if lock:
        query = query.with_for_update()
    target = session.exec(query).first()
    if target is None:
        raise NotFound(
            f"No target {target_id} in this workspace.",
            field=field,
            next_action=hint("list_distribution_targets", "List the targets to find the right id."),
        )
    return target


def effective_retry_policy(target: TargetState | None, settings: Settings) -> RetryPolicy:
    if target is not None and target.retry_policy:
        return RetryPolicy.model_validate(target.retry_policy)
    return RetryPolicy(
        max_attempts=settings.retry_max_attempts,
        base_delay_seconds=settings.retry_base_delay_seconds,
        max_delay_seconds=settings.retry_max_delay_seconds,
    )


def is_paused(target: TargetState, now: datetime | None = None) -> bool:
    return target.paused_until is not None and target.paused_until > (now or datetime.now(UTC))


def to_read(target: Target, settings: Settings, *, persisted: bool = True) -> TargetRead:
    paused = is_paused(target)
    return TargetRead(
        id=target.id if persisted else None,
        name=target.name,
        channel=target.channel,
        config=target.config,
        labels=target.labels,
        active=target.active,
        paused_until=target.paused_until if paused else None,
        pause_reason=target.pause_reason if paused else None,
        has_credentials=target.credentials_blob is not None,
        retry_policy=effective_retry_policy(target, settings),
        rate_limit=RateLimit.model_validate(target.rate_limit) if target.rate_limit else None,
        max_concurrency=target.max_concurrency,
        policy=PolicyInput.model_validate(target.policy) if target.policy else None,
        fallback_target_id=target.fallback_target_id,
        circuit=CircuitRead(
            state=target.circuit_state,
            until=target.circuit_until,
            reason=target.circuit_reason,
            changed_at=target.circuit_changed_at,
        ),
        created_at=target.created_at if persisted else None,
        updated_at=target.updated_at if persisted else None,
    )


def has_label(label: str) -> ColumnElement[bool]:
    """Portable JSON-list membership: labels cannot contain quotes, so '"label"' matches exactly."""
    escaped = label.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return cast(Target.labels, String).like(f'%"{escaped}"%', escape="\\")


def check_labels(labels: list[str], field: str = "labels") -> list[str]:
    for label in labels:
        if not _LABEL.match(label):
            raise ValidationFailed(
                f"Label {label!r} is invalid: use 1-64 letters, digits or -_.:/ starting with a letter or digit.",
                field=field,
            )
    return sorted(set(labels))


def credentials_of(target: TargetState, box: SecretBox) -> dict | None:
    if target.credentials_blob is None:
        return None
    return box.decrypt_json(target.credentials_blob, f"target:{target.id}")


def target_view(target: TargetState, box: SecretBox) -> TargetView[Any, Any]:
    channel = get_channel(target.channel)
    credentials = credentials_of(target, box)
    creds_model = channel.credentials_model
    return TargetView(
        id=target.id,
        name=target.name,
        channel=target.channel,
        config=channel.config_model.model_validate(target.config),
        credentials=creds_model.model_validate(credentials) if creds_model and credentials is not None else None,
    )


def view_secrets(view: TargetView[Any, Any]) -> list[str]:
    """The credential values to scrub from errors, from an already decrypted view (no second decrypt)."""
    if view.credentials is None:
        return []
    return secret_values(view.credentials.model_dump(mode="json", by_alias=True))


def config_error(exc: ConfigError) -> ValidationFailed:
    return ValidationFailed(exc.message, field=exc.field, code=exc.code)
