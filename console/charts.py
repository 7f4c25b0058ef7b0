"""The delivery-time chart: inline SVG drawn on the server from attempts' durations (no script, no library)."""

from __future__ import annotations

from html import escape

from markupsafe import Markup

WIDTH, HEIGHT, PAD = 640, 160, 28
OUTCOME_CLASS = {"delivered": "ok"}


def duration_chart(attempts: list[dict]) -> Markup:
    """One bar per attempt (``durationMs``, ``outcome``, ``label``), height by duration, the slowest on top."""
    if not attempts:
        return Markup('<p class="muted">No attempts yet.</p>')
    longest = max(a["durationMs"] for a in attempts) or 1.0
    slot = (WIDTH - 2 * PAD) / len(attempts)
    bar = max(slot * 0.8, 1.0)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'aria-label="Delivery time of {len(attempts)} attempts, slowest {longest:.0f} ms">',
        f'<line class="axis" x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}"/>',
        f'<text class="tick" x="{PAD}" y="{PAD - 10}">{longest:.0f} ms</text>',
        f'<text class="tick" x="{PAD}" y="{HEIGHT - 8}">0</text>',
    ]
    for i, attempt in enumerate(attempts):
        height = (HEIGHT - 2 * PAD) * attempt["durationMs"] / longest
        x, y = PAD + i * slot + (slot - bar) / 2, HEIGHT - PAD - height
        kind = OUTCOME_CLASS.get(attempt["outcome"], "bad")
        title = escape(f"{attempt['label']}: {attempt['durationMs']:.0f} ms, {attempt['outcome']}")
        parts.append(
            f'<rect class="bar {kind}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{max(height, 1):.1f}">'
            f"<title>{title}</title></rect>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def attempts_of(jobs: list[dict]) -> list[dict]:
    """The chart's input from a page of jobs (``list_plan_jobs`` items)."""
    return [
        {
            "durationMs": float(a["durationMs"]),
            "outcome": a["outcome"],
            "label": f"{job['id']} #{a['number']} ({job.get('targetName') or job['targetId']})",
        }
        for job in jobs
        for a in job["attemptHistory"]
    ]
