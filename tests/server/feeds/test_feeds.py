"""The feed channel end to end: deliveries upsert entries, Herald serves RSS, Atom and JSON Feed that
feedparser reads, conditional GETs answer 304, private feeds need their token, WebSub hubs are pinged."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import feedparser
import httpx
import pytest
from sqlmodel import func, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from adapters.base import FeedEntry
from adapters.feed import entry_id
from server.app import create_app
from server.db import session_scope
from server.feeds.routes import ROUTES
from server.feeds.store import SqlFeedStore
from server.models import FeedEntryRow
from tests.support import factories
from tests.support.asgi_server import serving
from tests.support.doors import Doors, doors
from tests.support.modes import MODES, mode_settings
from tests.support.receiver import Receiver, Reply

pytestmark = pytest.mark.anyio

BASE = "https://herald.example"
TRICKY = "Rates & <Bonds> — “quoted” ünïcode ✓ 日本"


@pytest.fixture(params=MODES)
async def d(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Doors]:
    async with doors(tmp_path, **mode_settings(request, public_url=BASE)) as opened:
        yield opened


@pytest.fixture
async def http(d: Doors) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=ROUTES)
    app.state.runtime = d.rt
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as client:
        yield client


async def feed_target(d: Doors, name: str = "news", **config: Any) -> dict[str, Any]:
    return await d.ok("create_distribution_target", name=name, channel="feed", config=config)


async def deliver(d: Doors, target_id: str, **content: Any) -> dict[str, Any]:
    body = await factories.plan(
        d, target_id, content=factories.content(**content), awaitDelivery=True, redistribute=True
    )
    [job] = body["plan"]["jobs"]
    assert job["status"] == "delivered", job
    receipt: dict[str, Any] = job["receipt"]
    return receipt


def entries(d: Doors) -> int:
    with session_scope(d.rt.engine) as session:
        return session.exec(select(func.count()).select_from(FeedEntryRow)).one()


async def test_a_delivery_appears_in_all_three_formats_and_parses(d: Doors, http: httpx.AsyncClient) -> None:
    target = (await feed_target(d, title="Desk & <notes>", description="What the desk says", language="en-GB"))[
        "target"
    ]
    tid = target["id"]
    receipt = await deliver(
        d, tid, id="note-1", title=TRICKY, body="Line 1 & <b>not html</b>\nLine 2", url="https://e.x/1"
    )
    assert receipt["externalId"] == entry_id(tid, "note-1")
    assert receipt["responseMeta"] == {
        "feedUrl": f"{BASE}/feeds/{tid}.rss",
        "feedUrls": {kind: f"{BASE}/feeds/{tid}.{kind}" for kind in ("rss", "atom", "json")},
        "entry": "created",
    }

    rss = await http.get(f"/feeds/{tid}.rss")
    assert rss.status_code == 200 and rss.headers["content-type"] == "application/rss+xml; charset=utf-8"
    parsed = feedparser.parse(rss.content)
    assert parsed.bozo is False, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    assert parsed.feed.title == "Desk & <notes>"
    assert parsed.feed.language == "en-GB"
    [item] = parsed.entries
    assert (item.title, item.id, item.link) == (TRICKY, entry_id(tid, "note-1"), "https://e.x/1")
    assert item.description == "Line 1 & <b>not html</b>\nLine 2"

    atom = await http.get(f"/feeds/{tid}.atom")
    assert atom.headers["content-type"] == "application/atom+xml; charset=utf-8"
    parsed = feedparser.parse(atom.content)
    assert parsed.bozo is False, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    [item] = parsed.entries
    assert (item.title, item.id) == (TRICKY, entry_id(tid, "note-1"))
    assert item.content[0].value == "Line 1 & <b>not html</b>\nLine 2"
    assert item.content[0].type == "text/plain"
    assert item.updated_parsed is not None and item.published_parsed is not None

    feed = (await http.get(f"/feeds/{tid}.json")).json()
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert (feed["title"], feed["feed_url"], feed["description"]) == (
        "Desk & <notes>",
        f"{BASE}/feeds/{tid}.json",
        "What the desk says",
    )
    [item] = feed["items"]
    assert {k: item[k] for k in ("id", "title", "content_text", "url")} == {
        "id": entry_id(tid, "note-1"),
        "title": TRICKY,
        "content_text": "Line 1 & <b>not html</b>\nLine 2",
        "url": "https://e.x/1",
    }


async def test_control_characters_are_dropped_so_the_xml_stays_valid(d: Doors, http: httpx.AsyncClient) -> None:
    tid = (await feed_target(d))["target"]["id"]
    await deliver(d, tid, id="ctl", title="Bell\x07 and\x1b esc", body="form\x0cfeed")
    for kind in ("rss", "atom"):
        parsed = feedparser.parse((await http.get(f"/feeds/{tid}.{kind}")).content)
        assert parsed.bozo is False, parsed.get("bozo_exception")
        assert parsed.entries[0].title == "Bell and esc"


async def test_a_new_version_updates_the_entry_and_a_redelivery_changes_nothing(
    d: Doors, http: httpx.AsyncClient
) -> None:
    tid = (await feed_target(d))["target"]["id"]
    await deliver(d, tid, id="note", version="1", title="First")
    first = await http.get(f"/feeds/{tid}.json")
    again = await deliver(d, tid, id="note", version="1", title="First")
    assert again["responseMeta"]["entry"] == "unchanged"
    same = await http.get(f"/feeds/{tid}.json")
    assert same.headers["etag"] == first.headers["etag"] and same.content == first.content

    updated = await deliver(d, tid, id="note", version="2", title="Second")
    assert updated["responseMeta"]["entry"] == "updated" and updated["externalId"] == entry_id(tid, "note")
    assert entries(d) == 1
    [before], [after] = first.json()["items"], (await http.get(f"/feeds/{tid}.json")).json()["items"]
    assert after["id"] == before["id"] and after["title"] == "Second"
    assert after["date_published"] == before["date_published"]
    parsed = feedparser.parse((await http.get(f"/feeds/{tid}.atom")).content)
    assert [e.title for e in parsed.entries] == ["Second"]


async def test_a_late_delivery_of_an_older_plan_never_overwrites_a_newer_version(d: Doors) -> None:
    tid = (await feed_target(d))["target"]["id"]
    old = await factories.plan(d, tid, content=factories.content(id="n", version="1", title="Old"), awaitDelivery=True)
    await deliver(d, tid, id="n", version="2", title="New")
    store = SqlFeedStore(d.rt.engine, BASE)
    late = FeedEntry(
        entry_id(tid, "n"), "n", "1", "Old", "body", None, None, plan_id=old["plan"]["id"], delivery_id="job_x"
    )
    assert store.upsert_now(tid, late) == "superseded"
    with session_scope(d.rt.engine) as session:
        assert [(r.version, r.title) for r in session.exec(select(FeedEntryRow)).all()] == [("2", "New")]


async def test_max_items_keeps_the_newest_entries(d: Doors, http: httpx.AsyncClient) -> None:
    tid = (await feed_target(d, maxItems=2))["target"]["id"]
    for n in range(3):
        await deliver(d, tid, id=f"n{n}", title=f"Note {n}")
    assert [item["title"] for item in (await http.get(f"/feeds/{tid}.json")).json()["items"]] == ["Note 2", "Note 1"]
    parsed = feedparser.parse((await http.get(f"/feeds/{tid}.rss")).content)
    assert [e.title for e in parsed.entries] == ["Note 2", "Note 1"]
    assert entries(d) == 3


async def test_conditional_get_answers_304(d: Doors, http: httpx.AsyncClient) -> None:
    tid = (await feed_target(d))["target"]["id"]
    await deliver(d, tid, id="c1")
    for kind in ("rss", "atom", "json"):
        full = await http.get(f"/feeds/{tid}.{kind}")
        etag, modified = full.headers["etag"], full.headers["last-modified"]
        assert etag.startswith('"') and modified.endswith(" GMT")
        for headers in (
            {"If-None-Match": etag},
            {"If-None-Match": f'W/{etag}, "other"'},
            {"If-Modified-Since": modified},
        ):
            cached = await http.get(f"/feeds/{tid}.{kind}", headers=headers)
            assert (cached.status_code, cached.content, cached.headers["etag"]) == (304, b"", etag), headers
        # If-None-Match wins over If-Modified-Since (RFC 9110): a stale tag gets the body.
        stale = await http.get(
            f"/feeds/{tid}.{kind}", headers={"If-None-Match": '"old"', "If-Modified-Since": modified}
        )
        assert stale.status_code == 200 and stale.content == full.content
        head = await http.head(f"/feeds/{tid}.{kind}")
        assert head.status_code == 200 and head.headers["etag"] == etag


async def test_a_feed_reader_polls_with_etag_and_modified_over_real_http(d: Doors) -> None:
    tid = (await feed_target(d))["target"]["id"]
    await deliver(d, tid, id="p1", title="One")
    app = Starlette(routes=ROUTES)
    app.state.runtime = d.rt
    with serving(app) as url:
        first = feedparser.parse(f"{url}/feeds/{tid}.atom")
        assert (first.status, first.bozo, [e.title for e in first.entries]) == (200, False, ["One"])
        polled = feedparser.parse(f"{url}/feeds/{tid}.atom", etag=first.etag, modified=first.modified)
        assert (polled.status, polled.entries) == (304, [])
        await deliver(d, tid, id="p2", title="Two")
        changed = feedparser.parse(f"{url}/feeds/{tid}.atom", etag=first.etag, modified=first.modified)
        assert changed.status == 200 and [e.title for e in changed.entries] == ["Two", "One"]
        assert changed.etag != first.etag


async def test_a_private_feed_needs_its_token_and_leaks_nothing_without_it(d: Doors, http: httpx.AsyncClient) -> None:
    created = await feed_target(d, public=False)
    tid, token = created["target"]["id"], created["revealedSecrets"]["token"]
    assert created["target"]["hasCredentials"] is True and len(token) >= 32
    await deliver(d, tid, id="secret-note", title="Only for subscribers")
    hook = await factories.stub_target(d)
    unknown = await http.get("/feeds/tgt_00000000000000000000000000.rss")
    assert unknown.status_code == 404
    for path, headers in (
        (f"/feeds/{tid}.rss", {}),
        (f"/feeds/{tid}.rss?token=wrong-token-value", {}),
        (f"/feeds/{tid}.atom", {"Authorization": "Bearer wrong-token-value"}),
        (f"/feeds/{hook}.rss", {}),
        (f"/feeds/{tid}.xml?token={token}", {}),
    ):
        refused = await http.get(path, headers=headers)
        assert (refused.status_code, refused.content) == (404, unknown.content), path
        assert "secret-note" not in refused.text and tid not in refused.text
    by_query = await http.get(f"/feeds/{tid}.rss?token={token}")
    by_bearer = await http.get(f"/feeds/{tid}.json", headers={"Authorization": f"Bearer {token}"})
    assert by_query.status_code == 200 and feedparser.parse(by_query.content).entries[0].title == "Only for subscribers"
    assert by_bearer.json()["items"][0]["title"] == "Only for subscribers"
    assert by_query.headers["cache-control"] == "private, no-cache"
    read = await d.ok("get_distribution_target", id=tid)
    assert token not in json.dumps(read)


async def test_an_inactive_feed_is_not_served(d: Doors, http: httpx.AsyncClient) -> None:
    tid = (await feed_target(d))["target"]["id"]
    assert (await http.get(f"/feeds/{tid}.rss")).status_code == 200
    await d.ok("update_distribution_target", id=tid, active=False)
    assert (await http.get(f"/feeds/{tid}.rss")).status_code == 404


async def test_the_websub_hub_is_pinged_after_each_change_only(
    d: Doors, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    hub = receiver.url + "/hub"
    receiver.script["/hub"] = [Reply(204, body="")]
    tid = (await feed_target(d, websubHub=hub))["target"]["id"]
    receipt = await deliver(d, tid, id="w", version="1")
    assert receipt["responseMeta"]["websub"] == "notified"
    pings = receiver.at("/hub")
    assert [p.headers["Content-Type"] for p in pings] == ["application/x-www-form-urlencoded"] * 3
    assert sorted(parse_qs(p.body.decode())["hub.url"][0] for p in pings) == sorted(
        f"{BASE}/feeds/{tid}.{kind}" for kind in ("rss", "atom", "json")
    )
    assert all(parse_qs(p.body.decode())["hub.mode"] == ["publish"] for p in pings)
    again = await deliver(d, tid, id="w", version="1")
    assert "websub" not in again["responseMeta"] and len(receiver.at("/hub")) == 3
    served = await http.get(f"/feeds/{tid}.rss")
    assert served.headers["link"] == f'<{hub}>; rel="hub", <{BASE}/feeds/{tid}.rss>; rel="self"'
    links = feedparser.parse(served.content).feed.links
    assert {"href": hub, "rel": "hub"} in [{k: link[k] for k in ("href", "rel")} for link in links]
    assert (await http.get(f"/feeds/{tid}.json")).json()["hubs"] == [{"type": "WebSub", "url": hub}]


async def test_a_failing_hub_does_not_fail_the_delivery(d: Doors, receiver: Receiver) -> None:
    receiver.script["/hub"] = [Reply(500, body="hub down")]
    tid = (await feed_target(d, websubHub=receiver.url + "/hub"))["target"]["id"]
    receipt = await deliver(d, tid, id="f")
    assert receipt["responseMeta"]["entry"] == "created"
    assert receipt["responseMeta"]["websub"].startswith("failed: ")
    assert entries(d) == 1


async def test_a_hub_on_a_private_address_or_on_a_private_feed_is_refused(d: Doors) -> None:
    before = d.counts()
    guarded = await d.error(
        "create_distribution_target", name="f", channel="feed", config={"websubHub": "http://10.1.2.3/hub"}
    )
    assert (guarded["code"], guarded["field"]) == ("TARGET_ADDRESS_FORBIDDEN", "config.websubHub")
    private = await d.error(
        "create_distribution_target",
        name="f",
        channel="feed",
        config={"public": False, "websubHub": "https://hub.example/"},
    )
    assert (private["code"], private["field"]) == ("VALIDATION_ERROR", "config.websubHub")
    assert "only a public feed" in private["message"]
    assert {**d.counts(), "audit_events": 0} == {**before, "audit_events": 0}  # only the refusals' audit rows


async def test_dry_run_shows_the_entry_and_writes_nothing(d: Doors) -> None:
    tid = (await feed_target(d))["target"]["id"]
    before, stored = d.counts(), entries(d)
    body = await d.ok(
        "create_distribution_plan",
        content=factories.content(id="dry", title="A & B", excerpt="short"),
        targetIds=[tid],
        dryRun=True,
    )
    [preview] = body["preview"]["targets"]
    assert preview["channel"] == "feed" and preview["verdict"] == "deliver"
    assert preview["payload"] == {
        "entry": {
            "entryId": entry_id(tid, "dry"),
            "contentId": "dry",
            "version": "1",
            "title": "A & B",
            "body": "Rates held steady; the curve flattened.",
            "summary": "short",
            "url": None,
        }
    }
    assert d.counts() == before and entries(d) == stored


async def test_a_test_delivery_publishes_nothing(d: Doors, http: httpx.AsyncClient) -> None:
    tid = (await feed_target(d))["target"]["id"]
    tested = await d.ok("test_distribution_target", id=tid)
    assert tested["ok"] is True
    assert entries(d) == 0
    assert (await http.get(f"/feeds/{tid}.json")).json()["items"] == []


def test_the_app_serves_feeds_next_to_the_doors(tmp_path: Path) -> None:
    app = create_app(factories.test_settings(tmp_path, public_url=BASE))
    with TestClient(app) as client:
        created = factories.call(app.state.runtime, "create_distribution_target", name="n", channel="feed")
        tid = created.target.id
        served = client.get(f"/feeds/{tid}.atom")
        assert served.status_code == 200
        parsed = feedparser.parse(served.content)
        assert (parsed.bozo, parsed.feed.title, parsed.entries) == (False, "n", [])
        assert client.get(f"/feeds/{tid}.atom", headers={"If-None-Match": served.headers["etag"]}).status_code == 304
        assert client.get("/feeds/nothing.rss").status_code == 404
