"""The retry delay: one pure function of (attempt, policy, provider hint), full jitter, bounded."""

from __future__ import annotations

import random

from server.targets.schemas import RetryPolicy

_RNG = random.Random()


def retry_delay(
    failures: int, policy: RetryPolicy, hint_seconds: float | None = None, rng: random.Random | None = None
) -> float:
    """Seconds to wait after the ``failures``-th failed attempt (1-based).

    Full jitter: uniform in [0, min(cap, base * 2^(failures-1))]; with an explicit schedule, the
    scheduled delay ±20%. A provider hint (e.g. 503 with
    Retry-After) is a floor, still capped by the policy's maximum delay.
    """
    rng = rng or _RNG
    if policy.schedule_seconds:
        planned = policy.schedule_seconds[min(failures, len(policy.schedule_seconds)) - 1]
        delay = planned * rng.uniform(0.8, 1.2)
    else:
        ceiling = min(policy.max_delay_seconds, policy.base_delay_seconds * 2 ** max(failures - 1, 0))
        delay = rng.uniform(0, ceiling)
    if hint_seconds is not None:
        delay = max(delay, hint_seconds)
    return min(delay, policy.max_delay_seconds)


def pause_seconds(retry_after: float | None, consecutive: int, default_seconds: float, max_seconds: float) -> float:
    """How long a 429 pauses a target.

    The provider's reset (else the default) for the first 429; each further 429 in a row
    doubles it, capped at ``max_seconds``.
    """
    base = max(retry_after, 0.0) if retry_after is not None else default_seconds
    return min(base * 2 ** max(consecutive - 1, 0), max_seconds)
