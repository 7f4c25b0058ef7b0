"""Herald started as users run it, on 127.0.0.1: production (PostgreSQL + Redis + 2 workers) or embedded."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.sizes import Sizes
from tests.support.live import LiveHerald, herald_env, live_herald, redis_mode_herald

# herald_env tunes retries and the sweeper for fast tests; the bench runs Herald's defaults instead.
TEST_TUNING = ("HERALD_RETRY_BASE_DELAY_SECONDS", "HERALD_RETRY_MAX_DELAY_SECONDS", "HERALD_SWEEP_INTERVAL_SECONDS")
WORKERS = 2


def bench_env(data_dir: Path, sizes: Sizes, **settings: str) -> dict[str, str]:
    # Guardrails: the bench sets the documented settings instead of following the dry-run
    # confirmation flow. Confirmation and quotas protect agents from accidental fan-outs; they
    # are not the delivery path being measured, and a 10k-target dry run would only add
    # minutes before the clock starts.
    largest = max(sizes.fan_out_targets, sizes.embedded_targets, sizes.isolation_targets)
    env = herald_env(
        data_dir,
        confirm_above_targets=str(largest),
        quota_targets_per_plan=str(max(largest, 10_000)),
        quota_plans_per_hour="100000",
        log_level="ERROR",
        **settings,
    )
    for name in TEST_TUNING:
        env.pop(name)
    return env


def worker_pids(live: LiveHerald) -> list[int]:
    return [process.pid for process in live.workers]


@contextmanager
def production_cluster(data_dir: Path, sizes: Sizes) -> Iterator[LiveHerald]:
    """A fresh PostgreSQL schema and Redis namespace, `herald serve --no-worker` and 2 `herald worker`."""
    with redis_mode_herald(
        data_dir, "bench", WORKERS, env_for=lambda directory, **settings: bench_env(directory, sizes, **settings)
    ) as live:
        time.sleep(2)  # let both workers connect before any clock starts
        yield live


@contextmanager
def embedded_herald(data_dir: Path, sizes: Sizes) -> Iterator[LiveHerald]:
    """`herald serve` alone: SQLite in data_dir and the in-process worker, no Redis."""
    with live_herald(bench_env(data_dir, sizes)) as live:
        yield live
