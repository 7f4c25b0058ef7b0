"""The printed tables and the pass/FAIL verdict of each target from the performance issue."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    measure: str
    result: str
    ratio: str = ""
    target: str = ""
    verdict: str = ""


def ratio(numerator: float, denominator: float, digits: int = 3) -> float:
    """numerator / denominator, 0.0 when nothing was measured (a failed run must still print)."""
    return round(numerator / denominator, digits) if denominator else 0.0


def _mark(ok: bool | None) -> str:
    return "n/a" if ok is None else "pass" if ok else "FAIL"


def installed(peer: dict) -> bool:
    """A peer that ran; results written before peers were optional have no "installed" key."""
    return bool(peer.get("installed", True))


def _peer_verdict(fan: dict, peer: dict) -> bool | None:
    if not installed(peer):
        return None
    return _complete(fan) and peer["herald_ratio"] >= 5


def _rate(run: dict) -> str:
    text = f"{run['deliveries_per_second']:,.0f} deliveries/s"
    if not run.get("complete", True):
        text += f" (INCOMPLETE: {run.get('delivered', run['sink']['requests']):,} in {run['seconds']:.0f} s)"
    return text


def _complete(run: dict) -> bool:
    return run.get("complete", True)


def verdicts(r: dict) -> dict[str, bool | None]:
    """Each target of the issue, measured at whatever size this run used (None: n/a, the peer did not run)."""
    fan, wait, iso, mem = r["fan_out"], r["await_delivery"], r["isolation"], r["memory"]
    during = iso["pause"]["requests_during_pause"]
    return {
        "fan_out": _complete(fan) and fan["deliveries_per_second"] >= 2000 and fan["ratio_to_raw"] >= 0.25,
        "celery": _peer_verdict(fan, r["peers"]["celery"]),
        "apprise": _peer_verdict(fan, r["peers"]["apprise"]),
        "await_delivery": wait["p50_ms"] <= 25 and wait["p99_ms"] <= 100,
        "isolation": _complete(iso["limited"]) and _complete(iso["baseline"]) and iso["ratio"] >= 0.9 and during == 0,
        "memory": _complete(mem) and max(mem["peak_rss_mb_per_worker"]) <= 300,
        "plan_creation": r["plan_creation"]["ms"] <= 1000,
    }


def _isolation_row(iso: dict, ok: bool | None) -> Row:
    pause = iso["pause"]
    count = pause["requests_during_pause"]
    during = (
        f"{count} request{'' if count == 1 else 's'} in {pause['watched_seconds']:.1f} s of its"
        f" {pause['pause_seconds']:.1f} s pause"
        if pause["recorded"]
        else "NO PAUSE RECORDED"
    )
    result = f"{_rate(iso['limited'])} ({_rate(iso['baseline'])} without); {during}"
    measure = (
        f"429 isolation: {iso['targets'] - 1} healthy + 1 answering 429 (Retry-After"
        f" {iso['retry_after_seconds']} s), {iso['plans']} plans, median of {len(iso['ratios'])} pairs"
    )
    return Row(measure, result, f"{iso['ratio']:.2f} of no-429 run", "≥ 0.90 and 0 during the pause", _mark(ok))


def _celery_row(celery: dict, ok: bool | None) -> Row:
    if not installed(celery):
        return Row("Celery: 2 workers, best pool", celery["note"], "", "Herald ≥ 5×", _mark(ok))
    best = celery["runs"][celery["best"]]
    return Row(
        f"Celery: {best['notifications']:,} notifications, 2 workers, best pool {celery['best']}",
        _rate(best),
        f"Herald {celery['herald_ratio']:.2f}×",
        "Herald ≥ 5×",
        _mark(ok),
    )


def _apprise_row(apprise: dict, ok: bool | None) -> Row:
    if not installed(apprise):
        return Row("Apprise: json:// URLs, one notify()", apprise["note"], "", "Herald ≥ 5×", _mark(ok))
    return Row(
        f"Apprise: {apprise['notifications']:,} json:// URLs, one notify()",
        _rate(apprise),
        f"Herald {apprise['herald_ratio']:.2f}×",
        "Herald ≥ 5×",
        _mark(ok),
    )


def main_rows(r: dict) -> list[Row]:
    raw, setup, fan, slow = r["raw_limit"], r["setup"], r["fan_out"], r["fan_out_50ms"]
    wait, mem, plan, peers = r["await_delivery"], r["memory"], r["plan_creation"], r["peers"]
    ok = verdicts(r)
    rss = " / ".join(f"{mb:,.0f}" for mb in mem["peak_rss_mb_per_worker"])
    return [
        Row(
            f"raw limit: bare aiohttp client, {raw['concurrency']} concurrent, ~1 KB POST",
            f"{raw['requests_per_second']:,.0f} req/s",
            "1.00",
        ),
        Row(
            f"setup: {setup['targets']:,} webhook targets, "
            f"GraphQL calls of {setup['per_call']} in {setup['threads']} threads",
            f"{setup['per_second']:,.0f} targets/s",
        ),
        Row(
            f"fan-out: one plan to {fan['jobs']:,} targets (PostgreSQL + Redis, 2 workers)",
            _rate(fan),
            f"{fan['ratio_to_raw']:.3f} of raw",
            "≥ 2,000/s and ≥ 0.25 of raw",
            _mark(ok["fan_out"]),
        ),
        Row(
            f"fan-out: the same {slow['jobs']:,} targets, receiver adds 50 ms",
            _rate(slow),
            f"{slow['ratio_to_fan_out']:.2f} of 0 ms fan-out",
        ),
        Row(
            f"awaitDelivery: one-target plan, {wait['calls']} sequential calls",
            f"p50 {wait['p50_ms']} / p95 {wait['p95_ms']} / p99 {wait['p99_ms']} ms",
            "",
            "p50 ≤ 25 ms, p99 ≤ 100 ms",
            _mark(ok["await_delivery"]),
        ),
        _isolation_row(r["isolation"], ok["isolation"]),
        _celery_row(peers["celery"], ok["celery"]),
        _apprise_row(peers["apprise"], ok["apprise"]),
        Row(
            f"memory: {mem['plans']} plans × {mem['jobs'] // mem['plans']:,} targets = "
            f"{mem['jobs']:,} jobs queued and drained",
            f"peak RSS {rss} MB per worker; {_rate(mem)}",
            "",
            "≤ 300 MB per worker",
            _mark(ok["memory"]),
        ),
        Row(
            f"plan creation: the create call of one {plan['jobs']:,}-job plan",
            f"{plan['ms']:,.0f} ms",
            "",
            "≤ 1,000 ms",
            _mark(ok["plan_creation"]),
        ),
    ]


def embedded_rows(e: dict) -> list[Row]:
    fan, wait = e["fan_out"], e["await_delivery"]
    return [
        Row(f"fan-out: one plan to {fan['jobs']:,} targets (SQLite, in-process worker)", _rate(fan)),
        Row(
            f"awaitDelivery: one-target plan, {wait['calls']} sequential calls",
            f"p50 {wait['p50_ms']} / p95 {wait['p95_ms']} / p99 {wait['p99_ms']} ms",
        ),
        Row(f"plan creation: the create call of one {fan['jobs']:,}-job plan", f"{fan['create_call_ms'][0]:,.0f} ms"),
    ]


def render(rows: list[Row]) -> str:
    """A plain-text table; columns empty in every row are left out."""
    header = ("measure", "result", "ratio", "target", "")
    body = [(r.measure, r.result, r.ratio, r.target, r.verdict) for r in rows]
    used = [i for i in range(len(header)) if any(row[i] for row in body)]
    cells = [[row[i] for i in used] for row in [header, *body]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(used))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _ms(ms: float) -> str:
    return f"{ms:,.0f} ms"


def _curve_fan_rows(r: dict) -> list[Row]:
    two, mem, fan = r["curve"]["workers_2"]["small"], r["memory"], r["fan_out"]
    rows = [
        Row(f"fan-out: {two['jobs']:,} jobs (some of the same targets), 2 workers", _rate(two)),
        Row(f"fan-out: {fan['jobs']:,} jobs (the fan-out above), 2 workers", _rate(fan)),
        Row(f"fan-out: {mem['jobs']:,} jobs ({mem['plans']} plans, the memory run), 2 workers", _rate(mem)),
    ]
    one = r["curve"].get("workers_1")
    if one:
        for run in (one["small"], one["fan_out"]):
            rows.append(
                Row(f"fan-out: {run['jobs']:,} jobs, 1 worker", _rate(run), f"{run['ratio_to_2_workers']:.2f} of 2")
            )
    return rows


def _channel_rows(r: dict) -> list[Row]:
    c, smtp = r["channels"], r["raw_smtp"]
    stub, email, up = c["stub"], c["email"], c["upsert"]
    publish, serve = c["feeds"]["publish"], c["feeds"]["serve"]
    return [
        Row(f"recipients: upsertRecipients of {up['recipients']:,} in calls of 2,000", f"{up['per_second']:,.0f}/s"),
        Row(
            f"recipients: one plan to {stub['jobs']:,} recipients through a stub target",
            _rate(stub),
            f"{stub['ratio_to_fan_out']:.2f} of fan-out",
        ),
        Row(
            f"raw limit (SMTP): bare aiosmtplib, {smtp['connections']} connections, ~1 KB message",
            f"{smtp['messages_per_second']:,.0f} messages/s",
            "1.00",
        ),
        Row(
            f"email: one plan to {email['jobs']:,} recipients, local SMTP sink",
            _rate(email),
            f"{email['ratio_to_raw']:.3f} of SMTP raw",
        ),
        Row(f"feeds: one plan publishing to {publish['jobs']:,} feed targets", _rate(publish)),
        Row(
            f"feeds: {serve['reads']:,} GETs of those feeds (.rss, 20 concurrent)",
            f"{serve['reads_per_second']:,.0f} reads/s",
        ),
    ]


def _plan_rows(r: dict) -> list[Row]:
    two, fan, stub = r["curve"]["workers_2"]["small"], r["fan_out"], r["channels"]["stub"]
    rows = [
        Row(f"plan creation: {two['jobs']:,} targets", _ms(two["create_call_ms"][0])),
        Row(f"plan creation: {fan['jobs']:,} targets", _ms(fan["create_call_ms"][0])),
        Row(f"plan creation: {stub['jobs']:,} recipients (one stub target)", _ms(stub["create_call_ms"][0])),
    ]
    large = r["curve"].get("large_plan")
    if large:
        rows.append(Row(f"plan creation: {large['jobs']:,} recipients (scheduled, then cancelled)", _ms(large["ms"])))
    return rows


def curve_rows(r: dict) -> list[Row]:
    """The cost curve (fan-out against size and workers, plan creation against size) and the channel rows."""
    return [*_curve_fan_rows(r), *_channel_rows(r), *_plan_rows(r)]
