"""Staggered due times: spread a plan's jobs over a window, pure and deterministic.

``plan_times`` gives each job one due time (whole seconds after the start) such that

- every time is in ``[start, start + window]``;
- consecutive times are at least ``min_gap`` and at most ``max_gap`` apart, jitter included;
- two deliveries of the same content (the same variation; every job when there are none) are at
  least ``spacing`` apart, this plan's and the ``occupied`` times of other plans alike;
- peak hours (local, by weight against off-peak 1; weekend peaks on Saturday and Sunday) get more jobs.

How: the window is warped by the peak weights (a job per equal share of the weighted time, at a
seeded point of its share), then each desired time is moved to the nearest point that keeps the rest
placeable (``earliest``/``latest`` bounds from greedy passes), then jittered within its neighbours'
slack. Variations go round in time order, so neighbours differ. The same seed gives the same times.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil, floor
from zoneinfo import ZoneInfo

_STEPS = 4_000  # the weighted window is read at about this many points


@dataclass(frozen=True)
class Peak:
    start: int  # minute of the local day
    end: int  # exclusive; at or before start: wraps past midnight
    weight: float

    def covers(self, minute: int) -> bool:
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end


@dataclass(frozen=True)
class Spec:
    window: int
    min_gap: int = 0
    max_gap: int | None = None
    peaks: tuple[Peak, ...] = ()
    weekend_peaks: tuple[Peak, ...] | None = None
    jitter: int = 0
    spacing: int = 0


@dataclass(frozen=True)
class Occupied:
    """Another plan's delivery of the same content id: its due time and variation (None: any)."""

    at: datetime
    variation: int | None = None


@dataclass(frozen=True)
class Slot:
    job: int  # index into the jobs given
    at: datetime
    variation: int | None
    zone: str  # the zone its peak hours were read in


class Refused(Exception):
    """The window cannot hold the jobs under the spec; ``field`` names the constraint."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def weight(spec: Spec, when: datetime, zone: ZoneInfo) -> float:
    local = when.astimezone(zone)
    peaks = spec.weekend_peaks if local.weekday() >= 5 and spec.weekend_peaks is not None else spec.peaks
    minute = local.hour * 60 + local.minute
    return max((p.weight for p in peaks if p.covers(minute)), default=1.0)


def plan_times(
    spec: Spec,
    start: datetime,
    zones: list[str],
    variations: int,
    occupied: list[Occupied],
    seed: str,
) -> list[Slot]:
    """One slot per job (``zones[i]`` is job i's zone name), earliest first; raises ``Refused``."""
    n = len(zones)
    if n == 0:
        return []
    lag = variations or 1
    _check_room(spec, n, lag, variations)
    blocked = _blocked(spec, start, occupied, variations)
    earliest = _earliest(spec, n, lag, blocked)
    if earliest[-1] > spec.window:
        raise Refused("stagger.sameContentSpacingSeconds", _occupied_message(spec, n, start, occupied))
    feasible = _feasible(spec, n, lag, blocked)
    rng = random.Random(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big"))
    order, desired = _desired_by_zone(spec, start, zones, rng)
    base = _fit(spec, desired, feasible, lag)
    times = _jitter(spec, base, lag, blocked, rng)
    return [
        Slot(
            job=order[k],
            at=start + timedelta(seconds=t),
            variation=k % variations if variations else None,
            zone=zones[order[k]],
        )
        for k, t in enumerate(times)
    ]


def _check_room(spec: Spec, n: int, lag: int, variations: int) -> None:
    need = (n - 1) * spec.min_gap
    if need > spec.window:
        raise Refused(
            "stagger.minGapSeconds",
            f"{n} jobs need at least {n - 1} × minGapSeconds={spec.min_gap} s = {need:,} s but windowSeconds is "
            f"{spec.window:,}; widen the window or lower minGapSeconds.",
        )
    if spec.spacing and spec.max_gap is not None and spec.spacing > lag * spec.max_gap:
        raise Refused(
            "stagger.sameContentSpacingSeconds",
            f"the same content comes back every {lag} job(s), at most {lag} × maxGapSeconds={spec.max_gap} s = "
            f"{lag * spec.max_gap:,} s apart, less than sameContentSpacingSeconds={spec.spacing}; raise "
            "maxGapSeconds, add content variations or lower sameContentSpacingSeconds.",
        )
    span = _span(n, lag, spec.min_gap, spec.spacing)
    if span > spec.window:
        kinds = f"{variations} variations" if variations else "one content (no variations)"
        raise Refused(
            "stagger.sameContentSpacingSeconds",
            f"{n} jobs of {kinds} need at least {span:,} s (sameContentSpacingSeconds={spec.spacing} s between "
            f"the same content, minGapSeconds={spec.min_gap} s between jobs) but windowSeconds is "
            f"{spec.window:,}; widen the window, add content variations or lower sameContentSpacingSeconds.",
        )


def _span(n: int, lag: int, gap: int, spacing: int) -> int:
    at: list[int] = []
    for k in range(n):
        at.append(max(at[k - 1] + gap if k else 0, at[k - lag] + spacing if k >= lag else 0))
    return at[-1]


def _occupied_message(spec: Spec, n: int, start: datetime, occupied: list[Occupied]) -> str:
    end = start + timedelta(seconds=spec.window)
    near = sum(start - timedelta(seconds=spec.spacing) < o.at < end + timedelta(seconds=spec.spacing) for o in occupied)
    return (
        f"{near} delivery(ies) of the same content id by other plans fall in or near the window, and with "
        f"sameContentSpacingSeconds={spec.spacing} s around each the {n} jobs no longer fit in windowSeconds="
        f"{spec.window:,}; widen the window, start later (scheduledAt) or lower sameContentSpacingSeconds."
    )


# Blocked time: open intervals (seconds after the start) around other plans' deliveries, per variation.
Intervals = list[tuple[int, int]]


def _blocked(spec: Spec, start: datetime, occupied: list[Occupied], variations: int) -> list[Intervals]:
    if not spec.spacing or not occupied:
        return [[] for _ in range(variations or 1)]
    out: list[Intervals] = []
    for v in range(variations or 1):
        raw = []
        for o in occupied:
            if variations and o.variation is not None and o.variation != v:
                continue
            at = (o.at - start).total_seconds()
            raw.append((floor(at) - spec.spacing, ceil(at) + spec.spacing))
        out.append(_merge(raw))
    return out


def _merge(raw: Intervals) -> Intervals:
    merged: Intervals = []
    for a, b in sorted(raw):
        if merged and a < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def _free(prefer: int, lo: int, hi: int, blocked: Intervals) -> int | None:
    """The point of [lo, hi] nearest ``prefer`` outside every open blocked interval (None: there is none)."""
    if lo > hi:
        return None
    x = min(max(prefer, lo), hi)
    i = bisect.bisect_right(blocked, (x, 2**62)) - 1
    if i < 0 or not blocked[i][0] < x < blocked[i][1]:
        return x
    a, b = blocked[i]
    options = [p for p in (a, b) if lo <= p <= hi]
    return min(options, key=lambda p: (abs(p - prefer), p)) if options else None


def _earliest(spec: Spec, n: int, lag: int, blocked: list[Intervals]) -> list[int]:
    at: list[int] = []
    for k in range(n):
        lo = max(at[k - 1] + spec.min_gap if k else 0, at[k - lag] + spec.spacing if k >= lag else 0)
        x = _free(lo, lo, 10**12, blocked[k % lag])
        at.append(x if x is not None else 10**12)
    return at


def _feasible(spec: Spec, n: int, lag: int, blocked: list[Intervals]) -> list[Intervals]:
    """Where each job can go and still leave a place for every later one (closed intervals), by consecutive
    gaps and blocked time; with variations the spacing between repeats is kept by ``_fit`` as it goes."""
    gap = max(spec.min_gap, spec.spacing) if lag == 1 else spec.min_gap
    top = spec.max_gap if spec.max_gap is not None else spec.window
    sets: list[Intervals] = [[] for _ in range(n)]
    sets[-1] = _minus([(0, spec.window)], blocked[(n - 1) % lag])
    for k in reversed(range(n - 1)):
        reach = _merge_closed([(max(0, a - top), b - gap) for a, b in sets[k + 1] if b - gap >= 0])
        sets[k] = _minus(reach, blocked[k % lag])
    return sets


def _merge_closed(raw: Intervals) -> Intervals:
    merged: Intervals = []
    for a, b in sorted(raw):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def _minus(closed: Intervals, blocked: Intervals) -> Intervals:
    """Closed intervals less open ones (their ends stay)."""
    out: Intervals = []
    for a, b in closed:
        for c, d in blocked:
            if d <= a or c >= b:
                continue
            if c >= a:
                out.append((a, c))
            a = max(a, d)
        if a <= b:
            out.append((a, b))
    return out


def _nearest(want: int, lo: int, hi: int, allowed: Intervals) -> int | None:
    best: int | None = None
    for a, b in allowed:
        a, b = max(a, lo), min(b, hi)
        if a <= b:
            x = min(max(want, a), b)
            if best is None or abs(x - want) < abs(best - want):
                best = x
    return best


def _desired_by_zone(spec: Spec, start: datetime, zones: list[str], rng: random.Random) -> tuple[list[int], list[int]]:
    """Each zone's jobs spread by that zone's weights, merged: the jobs in time order and their desired times."""
    by_zone: dict[str, list[int]] = {}
    for index, name in enumerate(zones):
        by_zone.setdefault(name, []).append(index)
    merged = []
    for name in sorted(by_zone):
        jobs = by_zone[name]
        merged += [(t, job) for t, job in zip(_desired(spec, start, len(jobs), ZoneInfo(name), rng), jobs, strict=True)]
    merged.sort()
    return [job for _, job in merged], [t for t, _ in merged]


def _desired(spec: Spec, start: datetime, n: int, zone: ZoneInfo, rng: random.Random) -> list[int]:
    """Where n jobs would go by the weights alone: one per equal share of the weighted window."""
    step = max(1, ceil(spec.window / _STEPS))
    weights = [weight(spec, start + timedelta(seconds=(i + 0.5) * step), zone) for i in range(ceil(spec.window / step))]
    cumulative = [0.0]
    for w in weights:
        cumulative.append(cumulative[-1] + w)
    total = cumulative[-1]
    desired = []
    for k in range(n):
        q = (k + rng.random()) / n * total
        i = min(bisect.bisect_right(cumulative, q) - 1, len(weights) - 1)
        desired.append(min(spec.window, int(i * step + (q - cumulative[i]) / weights[i] * step)))
    return desired


def _fit(spec: Spec, desired: list[int], feasible: list[Intervals], lag: int) -> list[int]:
    """Each desired time moved as little as keeps every constraint and leaves room for the jobs after it."""
    at: list[int] = []
    for k, want in enumerate(desired):
        lo = max(at[k - 1] + spec.min_gap if k else 0, at[k - lag] + spec.spacing if k >= lag else 0)
        hi = at[k - 1] + spec.max_gap if k and spec.max_gap is not None else spec.window
        x = _nearest(want, lo, hi, feasible[k])
        if x is None:
            raise Refused(
                "stagger.maxGapSeconds",
                f"other plans' deliveries of the same content leave no way to keep every gap within "
                f"maxGapSeconds={spec.max_gap} s (sameContentSpacingSeconds={spec.spacing} s around each); raise "
                "maxGapSeconds, start later (scheduledAt) or lower sameContentSpacingSeconds.",
            )
        at.append(x)
    return at


def _jitter(spec: Spec, base: list[int], lag: int, blocked: list[Intervals], rng: random.Random) -> list[int]:
    """Each time moved by at most ``jitter`` within what its (jittered) predecessors and (planned) successors
    allow; the planned time always qualifies, so a move never breaks a constraint."""
    if not spec.jitter:
        return base
    n, at = len(base), list[int]()
    for k, t in enumerate(base):
        lows = [t - spec.jitter, 0]
        highs = [t + spec.jitter, spec.window]
        if k:
            lows.append(at[k - 1] + spec.min_gap)
            if spec.max_gap is not None:
                highs.append(at[k - 1] + spec.max_gap)
        if k >= lag:
            lows.append(at[k - lag] + spec.spacing)
        if k + 1 < n:
            highs.append(base[k + 1] - spec.min_gap)
            if spec.max_gap is not None:
                lows.append(base[k + 1] - spec.max_gap)
        if k + lag < n:
            highs.append(base[k + lag] - spec.spacing)
        x = _free(t + rng.randint(-spec.jitter, spec.jitter), max(lows), min(highs), blocked[k % lag])
        at.append(x if x is not None else t)
    return at
