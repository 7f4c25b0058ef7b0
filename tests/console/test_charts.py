"""The delivery-time chart: one bar per attempt, scaled to the slowest, labels escaped."""

from __future__ import annotations

import re

from console.charts import attempts_of, duration_chart


def test_bars_scale_to_the_slowest_attempt_and_failures_are_marked() -> None:
    jobs = [
        {
            "id": "job_a",
            "targetId": "tgt_a",
            "targetName": "<b>hook</b>",
            "attemptHistory": [
                {"number": 1, "durationMs": 50.0, "outcome": "transient"},
                {"number": 2, "durationMs": 100.0, "outcome": "delivered"},
            ],
        },
        {"id": "job_b", "targetId": "tgt_b", "targetName": None, "attemptHistory": []},
    ]
    svg = str(duration_chart(attempts_of(jobs)))
    heights = [float(h) for h in re.findall(r'<rect class="bar \w+" [^>]*height="([\d.]+)"', svg)]
    assert heights == [52.0, 104.0]  # (160 - 2 * 28) px for the slowest, half for the other
    assert re.findall(r'class="bar (\w+)"', svg) == ["bad", "ok"]
    assert "&lt;b&gt;hook&lt;/b&gt;" in svg and "<b>" not in svg
    assert "100 ms" in svg


def test_no_attempts_draws_no_chart() -> None:
    assert "<svg" not in str(duration_chart([]))
