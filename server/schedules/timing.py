"""When a schedule runs: its nominal times (cron or interval, in its zone, by its DST rule) and their jitter.

All instants are aware UTC datetimes; the zone only decides which instants a cron expression names.

- **cron** (five fields, parsed by cronsim, which follows Debian/Vixie cron): evaluated on the wall
  clock of ``timezone``. ``dstPolicy`` decides the two days a year that clock is odd:
  ``vixie`` (default): a time skipped by spring-forward runs right after the change (02:30 runs at
  03:00), and a time in the repeated hour of fall-back runs once (at its first occurrence).
  ``literal``: a time that does not exist that day does not run; one that exists twice runs twice.
  Jobs running every hour or more often are not special under either rule: each real hour counts.
- **interval** (``intervalSeconds``, optional ``phaseSeconds``): ``anchor + phase + n * interval``,
  anchored at ``startAt`` (else the Unix epoch). Pure arithmetic, so it ignores DST: a 24 h interval
  drifts by an hour in local time across a change.
- ``startAt`` / ``endAt`` bound the nominal times (inclusive).
- **jitter** (``jitterSeconds``): a run fires at ``nominal + offset``, the offset a hash of the schedule
  id and the nominal time (the same after every restart, different between schedules sharing a cron),
  at most ``jitterSeconds`` and always before the next nominal time.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from server.errors import ValidationFailed

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_INTERVAL_SECONDS = 60
MAX_JITTER_SECONDS = 86_400


class DstPolicy(StrEnum):
    VIXIE = "vixie"
    LITERAL = "literal"


def zone(name: str, field: str = "timezone") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            f"Unknown time zone {name!r}: use an IANA name such as Europe/Berlin, America/New_York or UTC.",
            field=field,
        ) from None


def check_spec(spec: dict[str, Any]) -> None:
    """Refuse a spec that names no time, two kinds of time, a bad cron, a bad zone or no time ever (field named)."""
    cron, interval = spec.get("cron"), spec.get("intervalSeconds")
    if (cron is None) == (interval is None):
        raise ValidationFailed(
            "Give exactly one of cron (e.g. '0 8 * * 1' for Mondays 08:00) or intervalSeconds.", field="cron"
        )
    tz = zone(spec.get("timezone") or "UTC")
    if cron is not None:
        if len(cron.split()) != 5:
            raise ValidationFailed(
                f"cron {cron!r} needs five fields: minute hour day-of-month month day-of-week (e.g. '0 8 * * 1').",
                field="cron",
            )
        try:
            CronSim(cron, datetime.now(tz))
        except CronSimError as exc:
            raise ValidationFailed(f"cron {cron!r} is invalid: {exc}.", field="cron") from None
    start, end = spec.get("startAt"), spec.get("endAt")
    if start is not None and end is not None and _instant(end) <= _instant(start):
        raise ValidationFailed("endAt must be later than startAt.", field="endAt")
    if next(nominal_times(spec, _instant(start) - timedelta(seconds=1) if start else EPOCH), None) is None:
        raise ValidationFailed(
            "This schedule never runs (no matching time between startAt and endAt, or within 50 years).",
            field="endAt" if end is not None else "cron",
        )


def _instant(value: str | datetime) -> datetime:
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(UTC)


def nominal_times(spec: dict[str, Any], after: datetime) -> Iterator[datetime]:
    """The schedule's nominal times strictly after ``after``, in order, within startAt/endAt."""
    start = _instant(spec["startAt"]) if spec.get("startAt") else None
    end = _instant(spec["endAt"]) if spec.get("endAt") else None
    begin = max(after, start - timedelta(microseconds=1)) if start else after
    if spec.get("cron"):
        times = _cron_times(spec["cron"], zone(spec.get("timezone") or "UTC"), begin, _policy(spec))
    else:
        times = _interval_times(int(spec["intervalSeconds"]), int(spec.get("phaseSeconds") or 0), start, begin)
    for when in times:
        if end is not None and when > end:
            return
        yield when


def next_times(spec: dict[str, Any], after: datetime, count: int) -> list[datetime]:
    return list(islice(nominal_times(spec, after), count))


def _policy(spec: dict[str, Any]) -> DstPolicy:
    return DstPolicy(spec.get("dstPolicy") or DstPolicy.VIXIE)


def _interval_times(interval: int, phase: int, start: datetime | None, after: datetime) -> Iterator[datetime]:
    anchor = (start or EPOCH) + timedelta(seconds=phase)
    step = timedelta(seconds=interval)
    n = max(0, (after - anchor) // step + 1) if after >= anchor else 0
    while True:
        yield anchor + n * step
        n += 1


def _cron_times(expr: str, tz: ZoneInfo, after: datetime, policy: DstPolicy) -> Iterator[datetime]:
    it = CronSim(expr, after.astimezone(tz))
    if policy == DstPolicy.VIXIE:
        for local in _bounded(it):
            yield local.astimezone(UTC)
        return
    # literal: drop the times cronsim moved out of a spring-forward gap; add the second copy of a repeated time.
    seconds, minutes, hours = it.seconds, it.minutes, it.hours
    later: list[datetime] = []
    last: datetime | None = None
    for local in _bounded(it):
        instant = local.astimezone(UTC)
        while later and later[0] <= instant:
            earlier = heapq.heappop(later)
            if earlier != last:
                yield (last := earlier)
        if local.second not in seconds or local.minute not in minutes or local.hour not in hours:
            continue  # the wall-clock time named does not exist today; cronsim ran it after the gap
        if instant != last:
            yield (last := instant)
        if local.fold == 0:
            second = local.replace(fold=1).astimezone(UTC)
            if second != instant:
                heapq.heappush(later, second)


def _bounded(it: CronSim) -> Iterator[datetime]:
    try:
        yield from it
    except (StopIteration, CronSimError):
        return


def jitter(schedule_id: str, nominal: datetime, jitter_seconds: float, next_nominal: datetime | None) -> timedelta:
    """The deterministic offset of one run: hashed from the schedule id and the nominal time, at most
    ``jitter_seconds``, and never reaching the next nominal time."""
    if jitter_seconds <= 0:
        return timedelta(0)
    bound = float(jitter_seconds)
    if next_nominal is not None:
        bound = min(bound, (next_nominal - nominal).total_seconds() - 1)
    if bound <= 0:
        return timedelta(0)
    digest = hashlib.sha256(f"{schedule_id}|{nominal.astimezone(UTC).isoformat()}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return timedelta(milliseconds=int(fraction * bound * 1000))


def fire_time(schedule_id: str, spec: dict[str, Any], nominal: datetime) -> datetime:
    """When the run of ``nominal`` fires: the nominal time plus its jitter."""
    following = next(nominal_times(spec, nominal), None) if spec.get("jitterSeconds") else None
    return nominal + jitter(schedule_id, nominal, float(spec.get("jitterSeconds") or 0), following)
