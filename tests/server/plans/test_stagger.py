"""Stagger: the pure planner (gaps, window, peaks, weekend peaks, jitter, spacing, determinism, refusals,
recipient zones), the 100-account spread on a test clock through the doors, and real delivery on time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlmodel import col, select
from starlette.applications import Starlette
from starlette.routing import Route

from graphql_schema.app import make_graphql_app
from server.auth_middleware import BearerAuthMiddleware
from server.clock import TestClock
from server.db import session_scope
from server.models import Attempt
from server.plans import stagger
from server.plans.stagger import Occupied, Peak, Refused, Spec, plan_times
from tests.support import factories
from tests.support.doors import Doors, doors
from tests.support.modes import MODES, mode_settings
from tests.support.waiting import until_async

pytestmark = pytest.mark.anyio

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 12, 7, 7, 0, tzinfo=BERLIN).astimezone(UTC)  # 07:00 local, winter (UTC+1)
SATURDAY = datetime(2026, 12, 5, 7, 0, tzinfo=BERLIN).astimezone(UTC)


def hhmm(value: str) -> int:
    return int(value[:2]) * 60 + int(value[3:])


def gaps(slots: list[stagger.Slot]) -> list[float]:
    return [(b.at - a.at).total_seconds() for a, b in zip(slots, slots[1:], strict=False)]


def closest_same_content(times: list[tuple[datetime, int | None]]) -> float:
    """The smallest distance between two deliveries of the same variation."""
    by_variation: dict[int | None, list[datetime]] = {}
    for at, variation in times:
        by_variation.setdefault(variation, []).append(at)
    return min(
        (b - a).total_seconds()
        for ats in by_variation.values()
        for a, b in zip(sorted(ats), sorted(ats)[1:], strict=False)
    )


# --- the pure planner ---------------------------------------------------------------------------------


def test_every_time_is_in_the_window_with_gaps_between_min_and_max_and_the_same_seed_gives_the_same_times() -> None:
    spec = Spec(window=3_600, min_gap=60, max_gap=200)
    start = datetime(2026, 12, 7, 10, 0, 17, 250_000, tzinfo=UTC)
    slots = plan_times(spec, start, ["UTC"] * 30, 0, [], "note@1#abc")
    assert len(slots) == 30 and sorted(s.job for s in slots) == list(range(30))
    assert all(start <= s.at <= start + timedelta(seconds=3_600) for s in slots)
    assert all(60 <= gap <= 200 for gap in gaps(slots))
    assert [s.at for s in slots] == sorted(s.at for s in slots)
    assert plan_times(spec, start, ["UTC"] * 30, 0, [], "note@1#abc") == slots
    assert plan_times(spec, start, ["UTC"] * 30, 0, [], "note@1#other") != slots


def test_peak_hours_get_more_jobs_than_their_share_of_the_window_by_weight() -> None:
    start = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # a Monday, 24 h of it
    light = Spec(window=86_400, peaks=(Peak(hhmm("06:00"), hhmm("09:00"), 2),))
    heavy = Spec(window=86_400, peaks=(Peak(hhmm("06:00"), hhmm("09:00"), 8),))

    def in_peak(spec: Spec) -> int:
        return sum(6 <= s.at.hour < 9 for s in plan_times(spec, start, ["UTC"] * 200, 0, [], "seed"))

    # Off-peak weighs 1: 3 h at weight 2 hold 6/27 of the weighted day, at weight 8 24/45 of it.
    assert in_peak(light) == pytest.approx(200 * 6 / 27, abs=2)
    assert in_peak(heavy) == pytest.approx(200 * 24 / 45, abs=2)


def test_weekend_peaks_apply_on_saturday_and_sunday_in_the_local_zone() -> None:
    spec = Spec(
        window=6 * 3_600,
        peaks=(Peak(hhmm("07:00"), hhmm("09:00"), 5),),
        weekend_peaks=(Peak(hhmm("10:00"), hhmm("12:00"), 5),),
    )

    def hours(start: datetime) -> list[int]:
        return [s.at.astimezone(BERLIN).hour for s in plan_times(spec, start, ["Europe/Berlin"] * 120, 0, [], "x")]

    weekday, saturday = hours(MONDAY), hours(SATURDAY)
    # Weighted: 2 h × 5 of 4 h × 1 + 2 h × 5 = 10/14 of the jobs in the peak of the day.
    assert sum(7 <= h < 9 for h in weekday) == pytest.approx(120 * 10 / 14, abs=2)
    assert sum(10 <= h < 12 for h in saturday) == pytest.approx(120 * 10 / 14, abs=2)
    assert sum(7 <= h < 9 for h in saturday) == pytest.approx(120 * 2 / 14, abs=2)
    # Saturday 23:00 UTC is already Sunday in Berlin: the weekend peaks hold for the local day.
    late = datetime(2026, 12, 6, 9, 0, tzinfo=BERLIN)
    assert stagger.weight(spec, late.astimezone(UTC), BERLIN) == 1.0
    assert stagger.weight(spec, late.replace(hour=10, minute=30).astimezone(UTC), BERLIN) == 5.0


def test_jitter_moves_each_time_by_at_most_its_bound_and_never_breaks_a_gap_or_the_window() -> None:
    start = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    still = Spec(window=4_000, min_gap=60, max_gap=200)
    shaken = Spec(window=4_000, min_gap=60, max_gap=200, jitter=40)
    planned = plan_times(still, start, ["UTC"] * 30, 0, [], "seed")
    jittered = plan_times(shaken, start, ["UTC"] * 30, 0, [], "seed")
    moves = [(j.at - p.at).total_seconds() for p, j in zip(planned, jittered, strict=True)]
    assert all(abs(move) <= 40 for move in moves)
    assert sum(move != 0 for move in moves) >= 20  # it does move them
    assert all(60 <= gap <= 200 for gap in gaps(jittered))
    assert all(start <= s.at <= start + timedelta(seconds=4_000) for s in jittered)


def test_the_same_content_keeps_its_spacing_within_the_plan_and_from_other_plans_deliveries() -> None:
    start = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    spec = Spec(window=7_200, min_gap=30, max_gap=600, spacing=300)
    others = [Occupied(start + timedelta(seconds=s), None) for s in (100, 1_000, 1_400, 5_000)]
    slots = plan_times(spec, start, ["UTC"] * 12, 0, others, "seed")
    assert all(gap >= 300 for gap in gaps(slots))  # one content, no variations: every job is the same content
    assert min(abs((s.at - o.at).total_seconds()) for s in slots for o in others) >= 300
    # With three variations in turn, only every third job is the same content.
    varied = plan_times(Spec(window=7_200, min_gap=30, max_gap=600, spacing=300), start, ["UTC"] * 30, 3, [], "s")
    assert [s.variation for s in varied[:7]] == [0, 1, 2, 0, 1, 2, 0]
    assert all(gap >= 30 for gap in gaps(varied))
    assert closest_same_content([(s.at, s.variation) for s in varied]) >= 300


@pytest.mark.parametrize(
    ("spec", "n", "variations", "field", "message"),
    [
        (
            Spec(window=21_600, min_gap=300),
            100,
            0,
            "stagger.minGapSeconds",
            "100 jobs need at least 99 × minGapSeconds=300 s = 29,700 s but windowSeconds is 21,600; "
            "widen the window or lower minGapSeconds.",
        ),
        (
            Spec(window=21_600, min_gap=120, spacing=300),
            100,
            0,
            "stagger.sameContentSpacingSeconds",
            "100 jobs of one content (no variations) need at least 29,700 s (sameContentSpacingSeconds=300 s "
            "between the same content, minGapSeconds=120 s between jobs) but windowSeconds is 21,600; widen the "
            "window, add content variations or lower sameContentSpacingSeconds.",
        ),
        (
            Spec(window=21_600, min_gap=60, max_gap=100, spacing=300),
            10,
            2,
            "stagger.sameContentSpacingSeconds",
            "the same content comes back every 2 job(s), at most 2 × maxGapSeconds=100 s = 200 s apart, less "
            "than sameContentSpacingSeconds=300; raise maxGapSeconds, add content variations or lower "
            "sameContentSpacingSeconds.",
        ),
    ],
)
def test_a_window_that_cannot_hold_the_jobs_is_refused_naming_the_constraint(
    spec: Spec, n: int, variations: int, field: str, message: str
) -> None:
    with pytest.raises(Refused) as refused:
        plan_times(spec, MONDAY, ["UTC"] * n, variations, [], "seed")
    assert (refused.value.field, refused.value.message) == (field, message)


def test_other_plans_deliveries_that_leave_no_room_are_refused() -> None:
    spec = Spec(window=1_000, spacing=300)
    others = [Occupied(MONDAY), Occupied(MONDAY + timedelta(seconds=1_000))]  # leaves 300..700 free
    with pytest.raises(Refused) as refused:
        plan_times(spec, MONDAY, ["UTC"] * 3, 0, others, "seed")
    assert refused.value.field == "stagger.sameContentSpacingSeconds"
    assert refused.value.message == (
        "2 delivery(ies) of the same content id by other plans fall in or near the window, and with "
        "sameContentSpacingSeconds=300 s around each the 3 jobs no longer fit in windowSeconds=1,000; widen the "
        "window, start later (scheduledAt) or lower sameContentSpacingSeconds."
    )
    first, second = ((s.at - MONDAY).total_seconds() for s in plan_times(spec, MONDAY, ["UTC"] * 2, 0, others, "x"))
    assert first >= 300 and first + 300 <= second <= 700


def test_with_recipient_zones_each_job_lands_in_its_own_local_peak() -> None:
    # 09:00 in Tokyo is 00:00 UTC, in New York 14:00 UTC: one window of 16 h holds both peaks.
    spec = Spec(window=16 * 3_600, peaks=(Peak(hhmm("09:00"), hhmm("10:00"), 1_000),))
    start = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
    zones = ["Asia/Tokyo", "America/New_York"] * 10
    slots = plan_times(spec, start, zones, 0, [], "seed")
    assert sorted(s.job for s in slots) == list(range(20))
    assert all(slot.zone == zones[slot.job] for slot in slots)
    own_peak = [slot.at.astimezone(ZoneInfo(slot.zone)).hour == 9 for slot in slots]
    assert sum(own_peak) >= 18, own_peak
    # A time in one zone's peak goes to that zone's jobs.
    for slot in slots:
        other = "America/New_York" if slot.zone == "Asia/Tokyo" else "Asia/Tokyo"
        assert slot.at.astimezone(ZoneInfo(other)).hour != 9


# --- through the doors --------------------------------------------------------------------------------


@pytest.fixture
async def d(tmp_path: Path) -> AsyncIterator[Doors]:
    async with doors(tmp_path) as opened:
        opened.rt.clock = TestClock(MONDAY)
        yield opened


PEAKS = [
    {"start": "06:00", "end": "09:00", "weight": 3},
    {"start": "12:00", "end": "14:00", "weight": 2},
    {"start": "18:00", "end": "22:00", "weight": 3},
]
WEEKEND_PEAKS = [{"start": "09:00", "end": "12:00", "weight": 3}, {"start": "19:00", "end": "23:00", "weight": 2}]
SPREAD = {
    "windowSeconds": 6 * 3_600,
    "minGapSeconds": 120,
    "maxGapSeconds": 900,
    "peakHours": PEAKS,
    "weekendPeakHours": WEEKEND_PEAKS,
    "timezone": "Europe/Berlin",
    "jitterSeconds": 60,
    "sameContentSpacingSeconds": 300,
}
CAPTIONS = [{"title": f"Caption {n}", "body": f"Body {n}"} for n in range(4)]


def in_peaks(at: str, peaks: list[dict[str, Any]]) -> bool:
    local = datetime.fromisoformat(at).astimezone(BERLIN)
    minute = local.hour * 60 + local.minute
    return any(hhmm(p["start"]) <= minute < hhmm(p["end"]) for p in peaks)


async def create(d: Doors, **fields: Any) -> dict[str, Any]:
    """Dry run, then the real call with its confirmation token: returns (dry run, created)."""
    dry = await d.ok("create_distribution_plan", dryRun=True, **fields)
    token = dry.get("confirmationToken")
    made = await d.ok("create_distribution_plan", **fields, **({"confirmationToken": token} if token else {}))
    return {"dry": dry, "plan": made["plan"]}


@pytest.mark.parametrize(("day", "peaks", "peak_share"), [(MONDAY, PEAKS, 0.5), (SATURDAY, WEEKEND_PEAKS, 0.5)])
async def test_one_post_spread_over_100_accounts_in_6_hours(
    d: Doors, day: datetime, peaks: list[dict[str, Any]], peak_share: float
) -> None:
    assert isinstance(d.rt.clock, TestClock)
    d.rt.clock.set(day)
    targets = [await factories.stub_target(d, f"account-{n:03}", labels=["accounts"]) for n in range(100)]
    content = factories.content(id="launch-post", variations=CAPTIONS)
    first = await create(d, content=content, targetLabels=["accounts"], stagger=SPREAD, idempotencyKey="spread-1")
    preview = first["dry"]["preview"]
    times = preview["plannedTimes"]
    assert len(times) == 100 and sorted(t["targetId"] for t in times) == sorted(targets)
    ats = [datetime.fromisoformat(t["at"]) for t in times]
    assert ats == sorted(ats) and (preview["plannedFirst"], preview["plannedLast"]) == (times[0]["at"], times[-1]["at"])
    assert day <= ats[0] and ats[-1] <= day + timedelta(hours=6)
    spaced = [(b - a).total_seconds() for a, b in zip(ats, ats[1:], strict=False)]
    assert min(spaced) >= 120 and max(spaced) <= 900
    assert all(t["timezone"] == "Europe/Berlin" and t["localTime"].endswith("+01:00") for t in times)
    assert sum(in_peaks(t["at"], peaks) for t in times) / 100 > peak_share + 0.15  # peaks hold half the window
    variations = [t["variation"] for t in times]
    assert all(a != b for a, b in zip(variations, variations[1:], strict=False))
    assert closest_same_content([(at, v) for at, v in zip(ats, variations, strict=True)]) >= 300
    # The plan is made with exactly the planned times; each job shows its own due time.
    plan = first["plan"]
    assert (plan["status"], plan["stagger"]["windowSeconds"], plan["stagger"]["peakHours"][0]["weight"]) == (
        "scheduled",
        21_600,
        3.0,
    )
    due = {(j["targetId"], j["nextAttemptAt"], j["variation"]) for j in plan["jobs"]}
    assert due == {(t["targetId"], t["at"], t["variation"]) for t in times}
    assert all(j["status"] == "scheduled" for j in plan["jobs"])
    # A second plan of the same content (another version) keeps clear of the first one's deliveries.
    again = factories.content(id="launch-post", version="2", variations=CAPTIONS)
    second = await create(d, content=again, targetIds=targets[:20], stagger=SPREAD)
    later = [(datetime.fromisoformat(j["nextAttemptAt"]), j["variation"]) for j in second["plan"]["jobs"]]
    assert len(later) == 20
    assert closest_same_content(later + [(at, v) for at, v in zip(ats, variations, strict=True)]) >= 300
    # The whole 100 again in the same window cannot keep clear of both: refused, nothing written.
    before = d.counts()
    refused = await d.error(
        "create_distribution_plan",
        content=factories.content(id="launch-post", version="3", variations=CAPTIONS),
        targetLabels=["accounts"],
        stagger=SPREAD,
        dryRun=True,
    )
    assert (refused["code"], refused["field"]) == ("VALIDATION_ERROR", "stagger.sameContentSpacingSeconds")
    assert "by other plans fall in or near the window" in refused["message"]
    assert refused["recommendedNextAction"]["tool"] == "create_distribution_plan"
    assert d.counts() == before


async def test_the_dry_run_and_the_real_call_plan_the_same_times(d: Doors) -> None:
    targets = [await factories.stub_target(d, f"t{n}") for n in range(5)]
    fields = {"content": factories.content(), "targetIds": targets, "stagger": {"windowSeconds": 3_600}}
    dry = await d.ok("create_distribution_plan", dryRun=True, **fields)
    key = dry["recommendedNextAction"]["arguments"]["idempotencyKey"]
    made = await d.ok("create_distribution_plan", idempotencyKey=key, **fields)
    planned = sorted((t["targetId"], t["at"]) for t in dry["preview"]["plannedTimes"])
    assert sorted((j["targetId"], j["nextAttemptAt"]) for j in made["plan"]["jobs"]) == planned
    assert all(t["localTime"].endswith("+00:00") and t["timezone"] == "UTC" for t in dry["preview"]["plannedTimes"])


@pytest.mark.parametrize(
    ("stagger_input", "field", "says"),
    [
        ({"windowSeconds": 600, "minGapSeconds": 120, "maxGapSeconds": 60}, "stagger.maxGapSeconds", "less than"),
        ({"windowSeconds": 0}, "stagger.windowSeconds", "greater than or equal to 1"),
        (
            {"windowSeconds": 600, "peakHours": [{"start": "6am", "end": "09:00", "weight": 2}]},
            "stagger.peakHours[0].start",
            "is not a local time HH:MM",
        ),
        (
            {"windowSeconds": 600, "weekendPeakHours": [{"start": "06:00", "end": "25:00", "weight": 2}]},
            "stagger.weekendPeakHours[0].end",
            "is not a local time HH:MM",
        ),
        (
            {"windowSeconds": 600, "peakHours": [{"start": "06:00", "end": "09:00", "weight": 0}]},
            "stagger.peakHours.0.weight",
            "greater than 0",
        ),
        ({"windowSeconds": 600, "timezone": "Mars/Olympus"}, "stagger.timezone", "Unknown time zone"),
        ({"windowSeconds": 60, "minGapSeconds": 40}, "stagger.minGapSeconds", "3 jobs need at least 2 × minGap"),
    ],
)
async def test_a_bad_stagger_is_refused_at_dry_run_and_at_create_naming_the_field_and_writes_nothing(
    d: Doors, stagger_input: dict[str, Any], field: str, says: str
) -> None:
    targets = [await factories.stub_target(d, f"t{n}") for n in range(3)]
    before = d.counts()
    for dry_run in (True, False):
        body = await d.error(
            "create_distribution_plan",
            content=factories.content(),
            targetIds=targets,
            stagger=stagger_input,
            dryRun=dry_run,
        )
        assert (body["code"], body["field"]) == ("VALIDATION_ERROR", field), body
        assert says in body["message"], body["message"]
        assert body["recommendedNextAction"]["tool"] == "create_distribution_plan"
    after = d.counts()
    after.pop("audit_events"), before.pop("audit_events")  # a refusal may be audited; nothing else is written
    assert after == before


async def test_recipient_timezone_reads_each_recipients_own_zone_falling_back_to_the_plans(d: Doors) -> None:
    target = await factories.stub_target(d, "inbox")
    rows = [
        {"externalId": name, "addresses": {"stub": f"{name}@stub"}, **({"timezone": zone} if zone else {})}
        for name, zone in (("tokyo", "Asia/Tokyo"), ("new-york", "America/New_York"), ("nowhere", None))
    ]
    ids = [r["id"] for r in (await d.ok("upsert_recipients", recipients=rows))["recipients"]]
    spread = {"windowSeconds": 86_400, "recipientTimezone": True, "timezone": "Europe/Berlin"}
    dry = await d.ok(
        "create_distribution_plan",
        content=factories.content(),
        targetIds=[target],
        recipientIds=ids,
        stagger=spread,
        dryRun=True,
    )
    zones = {t["recipientId"]: t["timezone"] for t in dry["preview"]["plannedTimes"]}
    assert zones == dict(zip(ids, ["Asia/Tokyo", "America/New_York", "Europe/Berlin"], strict=True))
    for t in dry["preview"]["plannedTimes"]:
        assert t["localTime"] == datetime.fromisoformat(t["at"]).astimezone(ZoneInfo(t["timezone"])).isoformat()


async def test_a_stagger_dry_run_over_graphql_lists_the_planned_times(d: Doors) -> None:
    targets = [await factories.stub_target(d, f"t{n}") for n in range(3)]
    query = """mutation($content: ContentInput!, $targets: [ID!], $stagger: StaggerInput) {
      createDistributionPlan(dryRun: true, content: $content, targetIds: $targets, stagger: $stagger) {
        __typename ... on PlanPayload { preview { plannedFirst plannedLast
          plannedTimes { targetId at localTime timezone } } } } }"""
    variables = {
        "content": factories.content(),
        "targets": targets,
        "stagger": {"windowSeconds": 600, "minGapSeconds": 100, "timezone": "Europe/Berlin"},
    }
    app = BearerAuthMiddleware(Starlette(routes=[Route("/graphql", make_graphql_app(d.rt), methods=["POST"])]), d.rt)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald") as client:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers={"Authorization": f"Bearer {d.key}"}
        )
    preview = response.json()["data"]["createDistributionPlan"]["preview"]
    times = preview["plannedTimes"]
    assert sorted(t["targetId"] for t in times) == sorted(targets)
    ats = [datetime.fromisoformat(t["at"]) for t in times]
    assert all((b - a).total_seconds() >= 100 for a, b in zip(ats, ats[1:], strict=False))
    assert ats[0] >= MONDAY and ats[-1] <= MONDAY + timedelta(seconds=600)
    assert (preview["plannedFirst"], preview["plannedLast"]) == (times[0]["at"], times[-1]["at"])
    assert all(t["localTime"].endswith("+01:00") for t in times)


# --- real delivery on time ----------------------------------------------------------------------------


@pytest.fixture(params=MODES)
async def live(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Doors]:
    async with doors(tmp_path, **mode_settings(request)) as opened:
        yield opened


async def test_each_job_is_delivered_no_earlier_than_its_planned_time(live: Doors) -> None:
    targets = [await factories.stub_target(live, f"t{n}") for n in range(4)]
    spread = {"windowSeconds": 4, "minGapSeconds": 1, "maxGapSeconds": 2}
    plan = (await factories.plan(live, *targets, stagger=spread))["plan"]
    planned = {j["id"]: datetime.fromisoformat(j["nextAttemptAt"]) for j in plan["jobs"]}
    assert len(set(planned.values())) == 4

    async def read() -> dict[str, Any]:
        return (await live.ok("get_distribution_plan", id=plan["id"]))["plan"]

    done = await until_async(read, timeout=30, message="every staggered job delivered", done=lambda p: p["completedAt"])
    assert done["status"] == "succeeded"
    with session_scope(live.rt.engine) as session:
        rows = session.exec(
            select(Attempt.job_id, Attempt.started_at).where(col(Attempt.job_id).in_(list(planned)))
        ).all()
    assert sorted(job_id for job_id, _ in rows) == sorted(planned)
    for job_id, started in rows:
        started = started if started.tzinfo else started.replace(tzinfo=UTC)
        assert started >= planned[job_id], (job_id, started, planned[job_id])
