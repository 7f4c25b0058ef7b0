"""A run's content mapped from fetched JSON, its hash, and every `when` operator."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from server.schedules.content import build, content_digest, when_holds

DOC = {"kpis": {"revenue": 120, "regions": ["eu", "us"]}, "title": "Week 48", "note": None}
NOMINAL = datetime(2026, 11, 30, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("eq", 120, True),
        ("eq", 121, False),
        ("ne", 121, True),
        ("gt", 119, True),
        ("gt", 120, False),
        ("gte", 120, True),
        ("lt", 121, True),
        ("lte", 119, False),
        ("gt", "a string", False),  # not comparable: does not hold
    ],
)
def test_comparisons(op: str, value: object, expected: bool) -> None:
    assert when_holds({"jmespath": "kpis.revenue", "op": op, "value": value}, DOC) == (expected, 120)


def test_contains_and_exists() -> None:
    assert when_holds({"jmespath": "kpis.regions", "op": "contains", "value": "eu"}, DOC) == (True, ["eu", "us"])
    assert when_holds({"jmespath": "kpis.regions", "op": "contains", "value": "apac"}, DOC)[0] is False
    assert when_holds({"jmespath": "kpis.revenue", "op": "contains", "value": 1}, DOC) == (False, 120)
    assert when_holds({"jmespath": "title", "op": "exists"}, DOC) == (True, "Week 48")
    assert when_holds({"jmespath": "note", "op": "exists"}, DOC) == (False, None)
    assert when_holds({"jmespath": "missing.deep", "op": "exists"}, DOC) == (False, None)


def test_mapped_content_and_the_hash_that_ignores_the_per_run_version() -> None:
    source = {
        "url": "https://example.com/r.json",
        "map": {"title": "title", "body": "kpis.revenue", "metadata": "kpis"},
    }
    content = build({"id": "report", "version": "2"}, source, None, DOC, schedule_name="weekly", nominal=NOMINAL)
    assert content == {
        "id": "report",
        "version": "2+20261130T070000Z",
        "title": "Week 48",
        "body": "120",
        "metadata": {"revenue": 120, "regions": ["eu", "us"]},
    }
    later = build(
        {"id": "report", "version": "2"},
        source,
        None,
        DOC,
        schedule_name="weekly",
        nominal=NOMINAL.replace(day=7, month=12),
    )
    assert later["version"] != content["version"] and content_digest(later) == content_digest(content)
    text = build(
        None, {"url": "https://example.com/", "format": "html"}, "<p>hi</p>", None, schedule_name="w", nominal=NOMINAL
    )
    assert (text["id"], text["title"], text["body"], text["metadata"]) == (
        "w",
        "w",
        "<p>hi</p>",
        {"contentType": "html"},
    )
