"""A plan's stagger: the spec checked field by field, and the inputs the pure planner (``stagger``) needs
read from the database (recipients' zones, other plans' deliveries of the same content id)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func
from sqlmodel import Session, col, select

from server.errors import ValidationFailed
from server.hints import hint
from server.jobs.status import HOLDS_CONTENT
from server.models import Job, Recipient
from server.plans import stagger
from server.plans.schemas import PeakHourInput, StaggerInput

MAX_STAGGERED_JOBS = 10_000
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _refuse(message: str, field: str) -> ValidationFailed:
    return ValidationFailed(
        message,
        field=field,
        next_action=hint("create_distribution_plan", "Correct the named stagger field and dry-run again."),
    )


def spec(data: StaggerInput) -> stagger.Spec:
    """The planner's spec; a VALIDATION_ERROR naming the field for the first rule broken."""
    if data.max_gap_seconds is not None and data.max_gap_seconds < data.min_gap_seconds:
        raise _refuse(
            f"maxGapSeconds={data.max_gap_seconds} is less than minGapSeconds={data.min_gap_seconds}; "
            "make maxGapSeconds at least minGapSeconds.",
            "stagger.maxGapSeconds",
        )
    if data.timezone is not None:
        _zone(data.timezone, "stagger.timezone")
    return stagger.Spec(
        window=data.window_seconds,
        min_gap=data.min_gap_seconds,
        max_gap=data.max_gap_seconds,
        peaks=_peaks(data.peak_hours, "peakHours"),
        weekend_peaks=_peaks(data.weekend_peak_hours, "weekendPeakHours")
        if data.weekend_peak_hours is not None
        else None,
        jitter=data.jitter_seconds,
        spacing=data.same_content_spacing_seconds,
    )


def _zone(name: str, field: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _refuse(
            f"Unknown time zone {name!r}: use an IANA name such as Europe/Berlin, America/New_York or UTC.", field
        ) from None


def _peaks(hours: list[PeakHourInput], name: str) -> tuple[stagger.Peak, ...]:
    return tuple(
        stagger.Peak(start=_minute(p.start, f"stagger.{name}[{i}].start"), end=_end(p.end, name, i), weight=p.weight)
        for i, p in enumerate(hours)
    )


def _end(value: str, name: str, index: int) -> int:
    return 24 * 60 if value == "24:00" else _minute(value, f"stagger.{name}[{index}].end")


def _minute(value: str, field: str) -> int:
    if not _HHMM.match(value):
        raise _refuse(f"{value!r} is not a local time HH:MM (e.g. 06:00, 18:30).", field)
    return int(value[:2]) * 60 + int(value[3:])


def zones(session: Session, data: StaggerInput, recipient_ids: list[str | None]) -> list[str]:
    """Each job's zone name: its recipient's own (recipientTimezone), else the spec's, else UTC."""
    fallback = data.timezone or "UTC"
    if not data.recipient_timezone:
        return [fallback] * len(recipient_ids)
    wanted = sorted({rid for rid in recipient_ids if rid is not None})
    own: dict[str, str] = {}
    for start in range(0, len(wanted), 5_000):
        chunk = wanted[start : start + 5_000]
        rows = session.exec(select(Recipient.id, Recipient.timezone).where(col(Recipient.id).in_(chunk))).all()
        own.update({rid: tz for rid, tz in rows if tz and _known(tz)})
    return [own.get(rid, fallback) if rid is not None else fallback for rid in recipient_ids]


def _known(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def occupied(
    session: Session, workspace_id: str, content_id: str, start: datetime, planned: stagger.Spec
) -> list[stagger.Occupied]:
    """Other plans' waiting, delivering and delivered jobs of this content id (any version) near the window:
    their due time (a delivered one's delivery time) and variation."""
    if not planned.spacing:
        return []
    at = func.coalesce(Job.next_attempt_at, Job.finished_at)
    lo = start - timedelta(seconds=planned.spacing)
    hi = start + timedelta(seconds=planned.window + planned.spacing)
    rows = session.exec(
        select(at, Job.variation).where(
            Job.workspace_id == workspace_id,
            col(Job.content_key).startswith(f"{content_id}@", autoescape=True),
            col(Job.status).in_(HOLDS_CONTENT),
            at > lo,
            at < hi,
        )
    ).all()
    return [stagger.Occupied(at=_aware(when), variation=variation) for when, variation in rows if when is not None]


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def plan(
    session: Session,
    workspace_id: str,
    data: StaggerInput,
    content_id: str,
    recipient_ids: list[str | None],
    variations: int,
    start: datetime,
    seed: str,
) -> list[stagger.Slot]:
    """The slots of the deliverable jobs (``recipient_ids`` in job order); a VALIDATION_ERROR when they cannot fit."""
    planned = spec(data)
    if len(recipient_ids) > MAX_STAGGERED_JOBS:
        raise _refuse(
            f"A stagger spreads at most {MAX_STAGGERED_JOBS:,} jobs; this plan makes {len(recipient_ids):,}. "
            "Split it into several plans.",
            "stagger",
        )
    taken = occupied(session, workspace_id, content_id, start, planned)
    try:
        return stagger.plan_times(planned, start, zones(session, data, recipient_ids), variations, taken, seed)
    except stagger.Refused as exc:
        raise _refuse(exc.message, exc.field) from None
