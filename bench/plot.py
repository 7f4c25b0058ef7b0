"""The cost curve as a PNG beside the JSON: deliveries/s against jobs (1 and 2 workers, recipients, email) and
plan creation time against size. matplotlib comes with the `bench` extra; without it no plot is written."""

from __future__ import annotations

import importlib.util
from pathlib import Path

NOT_INSTALLED = "not written: matplotlib not installed (pip install -e '.[bench]')"


def _points(r: dict) -> dict[str, list[tuple[int, float]]]:
    curve, channels = r["curve"], r["channels"]
    two = [curve["workers_2"]["small"], r["fan_out"], r["memory"]]
    series = {"2 workers (webhook)": [(run["jobs"], run["deliveries_per_second"]) for run in two]}
    if "workers_1" in curve:
        one = [curve["workers_1"]["small"], curve["workers_1"]["fan_out"]]
        series["1 worker (webhook)"] = [(run["jobs"], run["deliveries_per_second"]) for run in one]
    for name in ("stub", "email"):
        run = channels[name]
        series[f"{name}, recipients"] = [(run["jobs"], run["deliveries_per_second"])]
    return series


def _plans(r: dict) -> dict[str, list[tuple[int, float]]]:
    targets = [r["curve"]["workers_2"]["small"], r["fan_out"]]
    series = {"targets": [(run["jobs"], run["create_call_ms"][0]) for run in targets]}
    recipients = [(r["channels"]["stub"]["jobs"], r["channels"]["stub"]["create_call_ms"][0])]
    if "large_plan" in r["curve"]:
        recipients.append((r["curve"]["large_plan"]["jobs"], r["curve"]["large_plan"]["ms"]))
    series["recipients"] = recipients
    return series


def plot(r: dict, path: Path) -> str:
    """Write the plot to ``path``; returns its name, or why none was written."""
    if importlib.util.find_spec("matplotlib") is None:
        return NOT_INSTALLED
    import matplotlib

    matplotlib.use("Agg")  # headless
    from matplotlib import pyplot

    figure, (rates, plans) = pyplot.subplots(1, 2, figsize=(11, 4.2))
    for label, points in _points(r).items():
        rates.plot(*zip(*points, strict=True), marker="o", label=label)
    rates.set(xscale="log", xlabel="jobs in the run", ylabel="deliveries/s", title="Fan-out against size")
    rates.set_ylim(bottom=0)
    rates.legend(fontsize="small")
    for label, points in _plans(r).items():
        plans.plot(*zip(*points, strict=True), marker="o", label=label)
    plans.set(xscale="log", xlabel="jobs in the plan", ylabel="create call, ms", title="Plan creation against size")
    plans.set_ylim(bottom=0)
    plans.legend(fontsize="small")
    figure.suptitle(f"Herald bench ({r['mode']}), {r['when']}, {r['machine']}", fontsize="medium")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
    return f"bench/results/{path.name}"
