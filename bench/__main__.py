"""Run the benchmark: `python -m bench [--smoke | --quick] [--sizes name=value,...]`.

Starts a sink, PostgreSQL schema, Redis namespace, Herald and its peers on 127.0.0.1, prints one
table (and one for embedded mode) and writes bench/results/{latest,smoke,custom}.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.channels import raw_smtp_limit, running_smtp_sink
from bench.plot import plot
from bench.report import curve_rows, embedded_rows, installed, main_rows, ratio, render, verdicts
from bench.runs import herald_embedded, herald_production, peers
from bench.scenarios import raw_limit
from bench.sinkctl import running_sink
from bench.sizes import FULL, QUICK, SMOKE, Sizes, override

RESULTS = Path(__file__).with_name("results")


def _ratios(results: dict) -> None:
    raw = results["raw_limit"]["requests_per_second"]
    herald = results["fan_out"]["deliveries_per_second"]
    results["fan_out"]["ratio_to_raw"] = ratio(herald, raw, 4)
    results["fan_out_50ms"]["ratio_to_fan_out"] = ratio(results["fan_out_50ms"]["deliveries_per_second"], herald)
    for peer in results["peers"].values():
        if installed(peer):
            peer["herald_ratio"] = ratio(herald, peer["deliveries_per_second"], 2)
    email = results["channels"]["email"]
    email["ratio_to_raw"] = ratio(email["deliveries_per_second"], results["raw_smtp"]["messages_per_second"])
    stub = results["channels"]["stub"]
    stub["ratio_to_fan_out"] = ratio(stub["deliveries_per_second"], herald)
    one = results["curve"].get("workers_1")
    if one:
        one["fan_out"]["ratio_to_2_workers"] = ratio(one["fan_out"]["deliveries_per_second"], herald)
        small = results["curve"]["workers_2"]["small"]["deliveries_per_second"]
        one["small"]["ratio_to_2_workers"] = ratio(one["small"]["deliveries_per_second"], small)


def _timed(durations: dict[str, float], name: str, session: Callable[..., dict], *args: Any) -> dict:
    started = time.perf_counter()
    try:
        return session(*args)
    finally:
        durations[name] = round(time.perf_counter() - started, 1)


def run(sizes: Sizes, mode: str) -> dict:
    results: dict = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": mode,
        "machine": f"{os.cpu_count()} cores, {platform.machine()}",
        "python": platform.python_version(),
        "sizes": asdict(sizes),
    }
    durations: dict[str, float] = {}
    with running_sink() as sink, running_smtp_sink() as smtp:
        results["raw_limit"] = _timed(durations, "raw_limit", raw_limit, sink, sizes.raw_requests)
        results["raw_smtp"] = _timed(durations, "raw_smtp", raw_smtp_limit, smtp, sizes.smtp_raw_messages)
        results.update(_timed(durations, "herald_production", herald_production, sink, smtp, sizes))
        results["peers"] = _timed(durations, "peers", peers, sink, sizes)
        results["embedded"] = _timed(durations, "herald_embedded", herald_embedded, sink, sizes)
    durations["total"] = round(sum(durations.values()), 1)
    results["session_seconds"] = durations
    _ratios(results)
    results["verdicts"] = verdicts(results)
    return results


def _sizes(args: argparse.Namespace) -> tuple[Sizes, str]:
    base, mode = (SMOKE, "smoke") if args.smoke else (QUICK, "quick") if args.quick else (FULL, "full")
    if args.sizes:
        return override(base, args.sizes), f"{mode}, custom sizes"
    return base, mode


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    preset = parser.add_mutually_exclusive_group()
    preset.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness, its figures mean nothing")
    preset.add_argument("--quick", action="store_true", help="medium sizes (1,000 targets) to try the full code path")
    parser.add_argument(
        "--sizes",
        default=os.environ.get("BENCH_SIZES", ""),
        metavar="NAME=N,...",
        help="override sizes of the chosen preset, e.g. fan_out_targets=2000,memory_plans=5 "
        "(default: $BENCH_SIZES); names: " + ", ".join(asdict(FULL)),
    )
    args = parser.parse_args()
    sizes, mode = _sizes(args)
    results = run(sizes, mode)
    print(f"Herald benchmark ({mode}), {results['machine']}, Python {results['python']}, {results['when']}")
    if mode != "full":
        print("Sizes below the issue's: the figures and verdicts are only indicative.")
    print(render(main_rows(results)))
    print("\nCost curve and channels (PostgreSQL + Redis; 2 workers unless the row says 1)")
    print(render(curve_rows(results)))
    print("\nEmbedded mode (`herald serve` alone: SQLite, in-process worker, no Redis)")
    print(render(embedded_rows(results["embedded"])))
    name = {"full": "latest", "smoke": "smoke"}.get(mode, "custom")
    RESULTS.mkdir(exist_ok=True)
    results["plot"] = plot(results, RESULTS / f"{name}.png")
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to bench/results/{name}.json; plot: {results['plot']}")
    print(f"run time {results['session_seconds']['total']:.0f} s")


if __name__ == "__main__":
    main()
