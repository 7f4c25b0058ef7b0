"""Recipient operations through the MCP door (the parity test proves GraphQL has the same)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.doors import Doors, doors

pytestmark = pytest.mark.anyio


@pytest.fixture
async def d(tmp_path: Path) -> AsyncIterator[Doors]:
    async with doors(tmp_path) as opened:
        yield opened


def advisor(n: int, **fields: object) -> dict:
    return {
        "externalId": f"ARN-{n}",
        "name": f"Advisor {n}",
        "addresses": {"whatsapp": f"+9198{n:08d}", "email": f"a{n}@example.com"},
        "timezone": "Asia/Kolkata",
        "labels": ["advisors"],
        **fields,
    }


async def test_upsert_creates_then_updates_by_external_id(d: Doors) -> None:
    first = await d.ok("upsert_recipients", recipients=[advisor(1), advisor(2)])
    assert (first["created"], first["updated"]) == (2, 0)
    ids = [r["id"] for r in first["recipients"]]
    assert [r["externalId"] for r in first["recipients"]] == ["ARN-1", "ARN-2"]
    assert all(i.startswith("rcp_") for i in ids) and len(set(ids)) == 2
    again = await d.ok(
        "upsert_recipients",
        recipients=[advisor(2, name="Renamed", attributes={"city": "Pune"}), advisor(3)],
    )
    assert (again["created"], again["updated"]) == (1, 1)
    assert again["recipients"][0] == {"id": ids[1], "externalId": "ARN-2", "created": False}
    got = (await d.ok("get_recipient", externalId="ARN-2"))["recipient"]
    assert (got["id"], got["name"], got["attributes"], got["timezone"]) == (
        ids[1],
        "Renamed",
        {"city": "Pune"},
        "Asia/Kolkata",
    )
    assert got["addresses"] == {"whatsapp": "+919800000002", "email": "a2@example.com"}
    assert (got["unsubscribed"], got["bouncedAt"], got["active"], got["labels"]) == ([], {}, True, ["advisors"])
    assert (await d.ok("get_recipient", id=ids[0]))["recipient"]["externalId"] == "ARN-1"


@pytest.mark.parametrize(
    ("recipient", "field", "words"),
    [
        (advisor(1, addresses={"whatsapp": "9812345678"}), "recipients.0.addresses", "E.164"),
        (advisor(1, addresses={"email": "not-an-address"}), "recipients.0.addresses", "email address"),
        (advisor(1, addresses={"telegram": "chat one"}), "recipients.0.addresses", "Telegram chat id"),
        (advisor(1, timezone="Asia/Bombay_"), "recipients.0.timezone", "IANA time zone"),
        (advisor(1, labels=["bad label"]), "recipients.0.labels", "label 'bad label' is invalid"),
    ],
)
async def test_invalid_recipients_are_refused_naming_the_field(
    d: Doors, recipient: dict, field: str, words: str
) -> None:
    before = d.counts()
    error = await d.error("upsert_recipients", recipients=[recipient])
    assert error["code"] == "VALIDATION_ERROR" and error["field"] == field, error
    assert words in error["message"]
    assert error["recommendedNextAction"]["tool"] == "upsert_recipients"
    assert (await d.ok("list_recipients"))["items"] == [] and d.counts() == before


async def test_a_repeated_external_id_is_refused(d: Doors) -> None:
    error = await d.error("upsert_recipients", recipients=[advisor(1), advisor(2), advisor(1)])
    assert error["code"] == "VALIDATION_ERROR"
    assert "externalId 'ARN-1' appears twice (recipients[0] and recipients[2])" in error["message"]
    assert (await d.ok("list_recipients"))["items"] == []


async def test_dry_run_upsert_counts_and_writes_nothing(d: Doors) -> None:
    await d.ok("upsert_recipients", recipients=[advisor(1)])
    dry = await d.ok("upsert_recipients", dryRun=True, recipients=[advisor(1), advisor(2)])
    assert (dry["dryRun"], dry["created"], dry["updated"]) == (True, 1, 1)
    assert dry["recipients"][1] == {"id": None, "externalId": "ARN-2", "created": True}
    assert [r["externalId"] for r in (await d.ok("list_recipients"))["items"]] == ["ARN-1"]


async def test_list_filters_by_label_search_and_channel_and_pages(d: Doors) -> None:
    await d.ok(
        "upsert_recipients",
        recipients=[
            advisor(1),
            advisor(2, labels=["advisors", "north"]),
            {
                "externalId": "ops-1",
                "name": "Night Desk",
                "addresses": {"telegram": "-1001234567890"},
                "labels": ["ops"],
            },
        ],
    )

    async def names(**filters: object) -> list[str]:
        return [r["externalId"] for r in (await d.ok("list_recipients", **filters))["items"]]

    assert await names() == ["ARN-1", "ARN-2", "ops-1"]
    assert await names(label="north") == ["ARN-2"]
    assert await names(label="advisors") == ["ARN-1", "ARN-2"]
    assert await names(search="night desk") == ["ops-1"]
    assert await names(search="a1@example") == ["ARN-1"]
    assert await names(channel="telegram") == ["ops-1"]
    assert await names(channel="email") == ["ARN-1", "ARN-2"]
    first = await d.ok("list_recipients", limit=2)
    assert first["nextCursor"] and first["recommendedNextAction"]["arguments"] == {
        "cursor": first["nextCursor"],
        "limit": 2,
    }
    rest = await d.ok("list_recipients", limit=2, cursor=first["nextCursor"])
    assert [r["externalId"] for r in rest["items"]] == ["ops-1"] and rest["nextCursor"] is None


async def test_unsubscribe_is_idempotent_and_delete_removes(d: Doors) -> None:
    ids = [r["id"] for r in (await d.ok("upsert_recipients", recipients=[advisor(1), advisor(2)]))["recipients"]]
    once = await d.ok("unsubscribe_recipient", id=ids[0], channel="stub")
    assert once["recipient"]["unsubscribed"] == ["stub"]
    twice = await d.ok("unsubscribe_recipient", externalId="ARN-1", channel="stub")
    assert twice["recipient"]["unsubscribed"] == ["stub"]
    everywhere = await d.ok("unsubscribe_recipient", id=ids[1])
    assert everywhere["recipient"]["unsubscribed"] == ["*"]
    # An upsert changes the profile, never the unsubscriptions.
    await d.ok("upsert_recipients", recipients=[advisor(1, name="Back")])
    assert (await d.ok("get_recipient", id=ids[0]))["recipient"]["unsubscribed"] == ["stub"]
    missing = await d.error("delete_recipients", ids=[ids[0], "rcp_01jzzzzzzzzzzzzzzzzzzzzzzz"])
    assert missing["code"] == "NOT_FOUND" and missing["field"] == "ids"
    assert len((await d.ok("list_recipients"))["items"]) == 2
    deleted = await d.ok("delete_recipients", ids=[ids[0]], externalIds=["ARN-2"])
    assert (deleted["deleted"], deleted["ids"]) == (2, sorted(ids))
    assert (await d.ok("list_recipients"))["items"] == []
    gone = await d.error("get_recipient", id=ids[0])
    assert gone["code"] == "NOT_FOUND"
