"""Nominal times on the days DST changes, in two zones, under both rules; intervals; jitter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.errors import ValidationFailed
from server.schedules.timing import check_spec, fire_time, jitter, next_times

NY, BERLIN = "America/New_York", "Europe/Berlin"


def local(spec: dict, after: datetime, count: int) -> list[str]:
    tz = ZoneInfo(spec.get("timezone", "UTC"))
    return [when.astimezone(tz).isoformat() for when in next_times(spec, after, count)]


@pytest.mark.parametrize(
    ("zone", "cron", "after", "vixie", "literal"),
    [
        # Spring forward: 02:30 does not exist that night.
        (
            NY,
            "30 2 * * *",
            datetime(2025, 3, 8, 12, tzinfo=UTC),
            ["2025-03-09T03:00:00-04:00", "2025-03-10T02:30:00-04:00"],
            ["2025-03-10T02:30:00-04:00", "2025-03-11T02:30:00-04:00"],
        ),
        (
            BERLIN,
            "30 2 * * *",
            datetime(2025, 3, 29, 12, tzinfo=UTC),
            ["2025-03-30T03:00:00+02:00", "2025-03-31T02:30:00+02:00"],
            ["2025-03-31T02:30:00+02:00", "2025-04-01T02:30:00+02:00"],
        ),
        # Fall back: 01:30 (New York) and 02:30 (Berlin) happen twice.
        (
            NY,
            "30 1 * * *",
            datetime(2025, 11, 1, 12, tzinfo=UTC),
            ["2025-11-02T01:30:00-04:00", "2025-11-03T01:30:00-05:00"],
            ["2025-11-02T01:30:00-04:00", "2025-11-02T01:30:00-05:00"],
        ),
        (
            BERLIN,
            "30 2 * * *",
            datetime(2025, 10, 25, 12, tzinfo=UTC),
            ["2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+01:00"],
            ["2025-10-26T02:30:00+02:00", "2025-10-26T02:30:00+01:00"],
        ),
        # Several times in the repeated hour keep their order under literal.
        (
            NY,
            "0,30 1 * * *",
            datetime(2025, 11, 2, 4, tzinfo=UTC),
            ["2025-11-02T01:00:00-04:00", "2025-11-02T01:30:00-04:00", "2025-11-03T01:00:00-05:00"],
            ["2025-11-02T01:00:00-04:00", "2025-11-02T01:30:00-04:00", "2025-11-02T01:00:00-05:00"],
        ),
        # Hourly jobs run in each real hour under both rules.
        (
            NY,
            "30 * * * *",
            datetime(2025, 11, 2, 4, tzinfo=UTC),
            ["2025-11-02T00:30:00-04:00", "2025-11-02T01:30:00-04:00", "2025-11-02T01:30:00-05:00"],
            ["2025-11-02T00:30:00-04:00", "2025-11-02T01:30:00-04:00", "2025-11-02T01:30:00-05:00"],
        ),
    ],
)
def test_dst_days_under_both_rules(zone: str, cron: str, after: datetime, vixie: list, literal: list) -> None:
    assert local({"cron": cron, "timezone": zone}, after, len(vixie)) == vixie  # vixie is the default
    assert local({"cron": cron, "timezone": zone, "dstPolicy": "vixie"}, after, len(vixie)) == vixie
    assert local({"cron": cron, "timezone": zone, "dstPolicy": "literal"}, after, len(literal)) == literal


def test_the_weekly_report_time_keeps_its_local_hour_across_the_change() -> None:
    spec = {"cron": "0 8 * * 1", "timezone": BERLIN}
    times = next_times(spec, datetime(2025, 10, 19, tzinfo=UTC), 3)
    assert [t.isoformat() for t in times] == [
        "2025-10-20T06:00:00+00:00",  # CEST
        "2025-10-27T07:00:00+00:00",  # CET, the day after the change
        "2025-11-03T07:00:00+00:00",
    ]


def test_an_interval_is_anchored_at_start_at_and_bounded_by_end_at() -> None:
    spec = {
        "intervalSeconds": 3600,
        "phaseSeconds": 600,
        "startAt": "2025-01-01T00:00:00Z",
        "endAt": "2025-01-01T02:10:00Z",
    }
    assert [t.isoformat() for t in next_times(spec, datetime(2024, 1, 1, tzinfo=UTC), 10)] == [
        "2025-01-01T00:10:00+00:00",
        "2025-01-01T01:10:00+00:00",
        "2025-01-01T02:10:00+00:00",
    ]
    after = datetime(2025, 1, 1, 1, 10, tzinfo=UTC)
    assert next_times(spec, after, 5) == [datetime(2025, 1, 1, 2, 10, tzinfo=UTC)]


def test_jitter_is_deterministic_bounded_and_differs_between_schedules() -> None:
    nominal, following = datetime(2026, 12, 7, 7, tzinfo=UTC), datetime(2026, 12, 7, 7, 1, tzinfo=UTC)
    first = jitter("sch_a", nominal, 3600, following)
    assert first == jitter("sch_a", nominal, 3600, following)
    assert timedelta(0) <= first < timedelta(seconds=59)  # never reaches the next nominal time
    offsets = {jitter(f"sch_{n}", nominal, 300, None) for n in range(20)}
    assert len(offsets) == 20 and all(timedelta(0) <= o <= timedelta(seconds=300) for o in offsets)
    spec = {"cron": "0 8 * * 1", "timezone": BERLIN, "jitterSeconds": 600}
    fires = fire_time("sch_a", spec, nominal)
    assert nominal <= fires <= nominal + timedelta(seconds=600) and fires == fire_time("sch_a", spec, nominal)
    assert jitter("sch_a", nominal, 0, following) == timedelta(0)


@pytest.mark.parametrize(
    ("spec", "field", "says"),
    [
        ({}, "cron", "exactly one of cron"),
        ({"cron": "0 8 * * 1", "intervalSeconds": 60}, "cron", "exactly one of cron"),
        ({"cron": "0 8 * *"}, "cron", "five fields"),
        ({"cron": "0 25 * * *"}, "cron", "invalid"),
        ({"cron": "0 8 * * 1", "timezone": "Mars/Olympus"}, "timezone", "IANA"),
        ({"cron": "0 8 * * 1", "startAt": "2026-01-02T00:00:00Z", "endAt": "2026-01-01T00:00:00Z"}, "endAt", "later"),
        ({"cron": "0 8 * * 1", "startAt": "2026-12-01T09:00:00Z", "endAt": "2026-12-02T00:00:00Z"}, "endAt", "never"),
    ],
)
def test_a_bad_spec_is_refused_naming_its_field(spec: dict, field: str, says: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_spec(spec)
    assert refused.value.field == field and says in refused.value.message
