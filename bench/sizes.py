"""How big each scenario is: the issue's sizes, a medium `--quick` run, a tiny `--smoke` run."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Sizes:
    raw_requests: int = 20_000
    fan_out_targets: int = 10_000
    await_calls: int = 500
    isolation_targets: int = 100
    isolation_plans: int = 30
    isolation_pairs: int = 3  # runs without and with the 429, alternating which goes first; the median ratio counts
    retry_after_seconds: int = 30
    memory_plans: int = 10
    peer_notifications: int = 10_000
    embedded_targets: int = 1_000
    embedded_await_calls: int = 100
    create_threads: int = 8
    wait_seconds: int = 150
    curve_small_jobs: int = 1_000  # the cost curve's small fan-out: that many of the fan-out targets
    single_worker: int = 1  # 1: the curve's fan-outs again with one worker stopped; 0: skip them
    recipients: int = 10_000  # through a stub target, then through an email target to the SMTP sink
    smtp_raw_messages: int = 2_000
    feed_targets: int = 500
    feed_reads: int = 1_000
    plan_100k_recipients: int = 0  # e.g. 100000: also time creating one plan to that many recipients

    def __post_init__(self) -> None:
        # Plans are watched through the first page of distributionPlans (newest first, 100 at most).
        assert self.isolation_plans <= 100 and self.memory_plans <= 100, "at most 100 plans per scenario"
        assert self.isolation_targets >= 2, "the 429 scenario needs one limited and at least one healthy target"
        assert self.isolation_pairs >= 1, "the 429 scenario needs at least one pair of runs"
        assert self.curve_small_jobs <= self.fan_out_targets, "the small fan-out uses some of the fan-out targets"


FULL = Sizes()
QUICK = Sizes(
    raw_requests=5_000,
    fan_out_targets=1_000,
    await_calls=100,
    isolation_plans=10,
    retry_after_seconds=20,
    memory_plans=5,
    peer_notifications=1_000,
    embedded_targets=200,
    embedded_await_calls=30,
    wait_seconds=120,
    curve_small_jobs=200,
    recipients=1_000,
    smtp_raw_messages=1_000,
    feed_targets=50,
    feed_reads=500,
)
SMOKE = Sizes(
    raw_requests=300,
    fan_out_targets=20,
    await_calls=5,
    isolation_targets=10,
    isolation_plans=3,
    retry_after_seconds=4,
    memory_plans=50,
    peer_notifications=300,
    embedded_targets=20,
    embedded_await_calls=5,
    wait_seconds=60,
    curve_small_jobs=10,
    recipients=20,
    smtp_raw_messages=50,
    feed_targets=3,
    feed_reads=9,
)


def override(base: Sizes, spec: str) -> Sizes:
    """Apply ``name=value,name=value`` (integers) to ``base``, e.g. ``fan_out_targets=2000``."""
    known = {f.name for f in fields(Sizes)}
    changes: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, value = item.partition("=")
        if name not in known:
            raise SystemExit(f"unknown size {name!r}; known: {', '.join(sorted(known))}")
        changes[name] = int(value)
    return replace(base, **changes)
