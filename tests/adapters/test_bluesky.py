"""Bluesky through the engine against a faithful fake PDS: at:// URI + cid receipt, RateLimit-Reset pause,
a cached session refreshed on ExpiredToken, no duplicate after a timeout (deterministic rkey + getRecord),
login errors classified; 300 graphemes and facets at UTF-8 byte offsets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters import ChannelIO, Content, DeliveryContext, Policy, Receipt, TargetView
from adapters.bluesky import (
    BlueskyChannel,
    BlueskyConfig,
    BlueskyCredentials,
    grapheme_truncate,
    graphemes,
    link_facets,
    rkey_for,
)
from adapters.tokens import MemoryTokenCache
from server.ids import new_id
from server.runtime import Runtime
from tests.adapters.support import delivery_loop
from tests.support.factories import FAST_RETRY
from tests.support.fakes import engine_sync as e
from tests.support.fakes.bluesky import DID, TID, FakeBluesky

PASSWORD = "abcd-efgh-ijkl-mnop"


@pytest.fixture
def pds() -> Iterator[FakeBluesky]:
    fake = FakeBluesky("herald.example.com", PASSWORD)
    yield fake
    fake.stop()


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = e.engine_runtime(tmp_path)
    yield runtime
    runtime.close()


def bluesky_target(rt: Runtime, pds: FakeBluesky, password: str = PASSWORD, **config: object) -> str:
    credentials = {"identifier": "herald.example.com", "appPassword": password}
    return e.create_target(rt, "bluesky", {"apiBaseUrl": pds.url, **config}, credentials, retryPolicy=FAST_RETRY)


def test_delivered_with_uri_and_cid_and_one_login_for_many_posts(rt: Runtime, pds: FakeBluesky) -> None:
    target_id = bluesky_target(rt, pds)
    jobs = [e.plan_job(rt, target_id, url="https://example.com/n", excerpt="Steady") for _ in range(3)]
    assert [e.attempt_once(rt, job_id).status for job_id in jobs] == ["delivered"] * 3
    assert pds.logins == 1  # the session is cached per worker
    record = pds.records[rkey_for(jobs[0])]
    assert record["value"]["text"] == "Market note\n\nRates held steady; the curve flattened."
    assert record["value"]["embed"] == {
        "$type": "app.bsky.embed.external",
        "external": {"uri": "https://example.com/n", "title": "Market note", "description": "Steady"},
    }
    receipt = e.receipt(rt, jobs[0])
    assert receipt.external_id == f"at://{DID}/app.bsky.feed.post/{rkey_for(jobs[0])}"
    assert receipt.response_meta == {
        "uri": receipt.external_id,
        "cid": record["cid"],
        "rkey": rkey_for(jobs[0]),
        "statusCode": 200,
    }


def test_429_pauses_until_ratelimit_reset_with_no_request_in_between(rt: Runtime, pds: FakeBluesky) -> None:
    pds.script = ["ratelimit"]
    target_id = bluesky_target(rt, pds)
    job_id = e.plan_job(rt, target_id)
    job = e.attempt_once(rt, job_id)
    paused = e.target(rt, target_id).paused_until
    assert paused is not None
    # The provider's reset, give or take the time to record the answer (a loaded host).
    assert timedelta(0) <= paused - datetime.fromtimestamp(pds.reset_at, UTC) <= timedelta(seconds=1)
    assert (job.status, job.error_class, job.retries_used, job.next_attempt_at) == (
        "scheduled",
        "rate_limited",
        0,
        paused,
    )
    e.attempt_once(rt, job_id)
    assert len(pds.at("/xrpc/com.atproto.repo.createRecord")) == 1 and pds.records == {}


@pytest.mark.slow  # waits out the client timeout
def test_no_duplicate_after_a_timeout_the_retry_finds_the_record(rt: Runtime, pds: FakeBluesky) -> None:
    pds.script = ["stall"]
    job_id = e.plan_job(rt, bluesky_target(rt, pds))
    assert e.attempt_once(rt, job_id).outcome_unknown is True
    assert e.retry_when_due(rt, job_id).status == "delivered"
    assert list(pds.records) == [rkey_for(job_id)]
    assert len(pds.at("/xrpc/com.atproto.repo.createRecord")) == 1
    [lookup] = pds.at("/xrpc/com.atproto.repo.getRecord")
    assert lookup.query == {"repo": DID, "collection": "app.bsky.feed.post", "rkey": rkey_for(job_id)}
    assert e.receipt(rt, job_id).response_meta["reconciled"] is True
    assert [a.reconciled for a in e.attempts(rt, job_id)] == [None, "found"]


def test_an_expired_session_is_refreshed_not_logged_in_again(rt: Runtime, pds: FakeBluesky) -> None:
    target_id = bluesky_target(rt, pds)
    assert e.attempt_once(rt, e.plan_job(rt, target_id)).status == "delivered"
    pds.script = ["expire"]
    job_id = e.plan_job(rt, target_id)
    assert e.attempt_once(rt, job_id).status == "delivered"
    assert (pds.logins, pds.refreshes, len(pds.records)) == (1, 1, 2)
    assert [a.outcome for a in e.attempts(rt, job_id)] == ["delivered"]


def test_a_wrong_app_password_is_systemic_and_never_logged(rt: Runtime, pds: FakeBluesky) -> None:
    job_id = e.plan_job(rt, bluesky_target(rt, pds, password="wrong-password"))
    job = e.attempt_once(rt, job_id)
    assert (job.status, job.error_class) == ("failed", "systemic")
    assert "Invalid identifier or password" in (job.last_error or "") and "wrong-password" not in (job.last_error or "")
    assert [a.error_code for a in e.attempts(rt, job_id)] == ["BLUESKY_AUTHENTICATIONREQUIRED"]
    assert pds.at("/xrpc/com.atproto.repo.createRecord") == []


def test_a_long_post_fits_300_graphemes_with_link_facets_at_byte_offsets(rt: Runtime, pds: FakeBluesky) -> None:
    family = "👨‍👩‍👧"  # one grapheme, five code points, 18 UTF-8 bytes
    body = f"Café {family} see https://example.com/é/path now. " + f"{family} é " * 200
    job_id = e.plan_job(rt, bluesky_target(rt, pds, linkCard=False), body=body, url="https://example.com/n")
    assert e.attempt_once(rt, job_id).status == "delivered"  # the fake validates graphemes and facet ranges
    record = pds.records[rkey_for(job_id)]["value"]
    text = record["text"]
    assert len(graphemes(text)) == 300 and text.endswith("…\n\nhttps://example.com/n")
    encoded = text.encode()
    spans = [encoded[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode() for f in record["facets"]]
    assert spans == ["https://example.com/é/path", "https://example.com/n"]
    assert [f["features"][0]["uri"] for f in record["facets"]] == spans


def test_grapheme_truncation_never_splits_a_cluster() -> None:
    text = "e\u0301" * 5  # five graphemes of two code points each
    assert grapheme_truncate(text, 3, "hard") == "e\u0301" * 3
    assert grapheme_truncate(text, 3) == "e\u0301" * 2 + "…"
    assert grapheme_truncate("one two three", 10, "word") == "one two…"


def test_facets_count_utf8_bytes_not_characters() -> None:
    [facet] = link_facets("é https://a.example/x")
    assert facet["index"] == {"byteStart": 3, "byteEnd": 22}  # "é " is 3 bytes, the URL 19


def test_the_rkey_is_a_stable_tid_timed_by_the_delivery_id() -> None:
    job_id = new_id("job")
    assert rkey_for(job_id) == rkey_for(job_id) != rkey_for(new_id("job"))
    assert TID.match(rkey_for(job_id)) and TID.match(rkey_for("anything"))


def test_concurrent_sends_share_one_login(pds: FakeBluesky) -> None:
    channel = BlueskyChannel()
    view = TargetView(
        "t",
        "b",
        "bluesky",
        BlueskyConfig(api_base_url=pds.url),
        BlueskyCredentials(identifier="herald.example.com", app_password=PASSWORD),
    )
    payload = channel.render(Content(id="c", version="1", title="T", body="B"), Policy(), view)

    async def four(io: ChannelIO) -> list[Receipt]:
        cached = ChannelIO(http=io.http, tokens=MemoryTokenCache())
        sends = [
            channel.send(payload, view, DeliveryContext(new_id("job"), 1, "pln_1", datetime.now(UTC)), cached)
            for _ in range(4)
        ]
        return list(await asyncio.gather(*sends))

    loop = delivery_loop()
    try:
        receipts = loop.run(four)
    finally:
        loop.close()
    assert (pds.logins, len(pds.records), len({r.external_id for r in receipts})) == (1, 4, 4)


@pytest.mark.integration
def test_on_postgresql_and_redis_delivered_then_no_duplicate_after_a_timeout(
    request: pytest.FixtureRequest, tmp_path: Path, pds: FakeBluesky
) -> None:
    rt = e.engine_runtime(tmp_path, request, "postgresql")
    target_id = bluesky_target(rt, pds)
    assert e.attempt_once(rt, e.plan_job(rt, target_id)).status == "delivered"
    pds.script = ["stall"]
    job_id = e.plan_job(rt, target_id)
    assert e.attempt_once(rt, job_id).outcome_unknown is True
    assert e.retry_when_due(rt, job_id).status == "delivered"
    assert len(pds.records) == 2 and pds.logins == 1
    assert [a.reconciled for a in e.attempts(rt, job_id)] == [None, "found"]


def test_a_dry_run_shows_the_exact_create_record_body_and_sends_nothing(rt: Runtime, pds: FakeBluesky) -> None:
    from tests.support import factories
    from tests.support.factories import call

    target_id = bluesky_target(rt, pds, langs=["en"])
    content = factories.content(body="Read https://example.com/é now", url="https://example.com/n")
    result = call(rt, "create_distribution_plan", content=content, targetIds=[target_id], dryRun=True)
    [preview] = result.preview.targets
    text = "Market note\n\nRead https://example.com/é now"
    assert (preview.content_type, preview.payload) == (
        "application/json",
        {
            "repo": "<session DID>",
            "collection": "app.bsky.feed.post",
            "rkey": "<from the delivery id>",
            "record": {
                "$type": "app.bsky.feed.post",
                "text": text,
                "createdAt": "<send time>",
                "facets": [
                    {
                        "index": {"byteStart": 18, "byteEnd": 40},
                        "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/é"}],
                    }
                ],
                "langs": ["en"],
                "embed": {
                    "$type": "app.bsky.embed.external",
                    "external": {"uri": "https://example.com/n", "title": "Market note", "description": ""},
                },
            },
        },
    )
    assert pds.requests == []


@pytest.mark.slow  # waits out the client timeout
def test_a_repeated_create_conflicts_on_the_rkey_and_finds_the_first_post(rt: Runtime, pds: FakeBluesky) -> None:
    pds.script = ["stall"]
    job_id = e.plan_job(rt, bluesky_target(rt, pds))
    e.attempt_once(rt, job_id)
    with rt.engine.begin() as connection:  # as if the doubt were lost: the send itself must not post twice
        connection.exec_driver_sql(f"UPDATE distribution_jobs SET outcome_unknown = false WHERE id = '{job_id}'")
    assert e.retry_when_due(rt, job_id).status == "delivered"
    assert list(pds.records) == [rkey_for(job_id)]
    creates = pds.at("/xrpc/com.atproto.repo.createRecord")
    assert [r.json()["rkey"] for r in creates] == [rkey_for(job_id)] * 2  # the second answered 500: it exists
    assert len(pds.at("/xrpc/com.atproto.repo.getRecord")) == 1
    assert e.receipt(rt, job_id).external_id == pds.records[rkey_for(job_id)]["uri"]
    assert [a.reconciled for a in e.attempts(rt, job_id)] == [None, None]
