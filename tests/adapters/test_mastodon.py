"""Mastodon through the engine against a faithful fake: receipt, X-RateLimit-Reset pause, Idempotency-Key
makes a retry after a timeout safe, errors classified; the instance's character limit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from adapters import Content, Policy, TargetView
from adapters.mastodon import MastodonChannel, MastodonConfig, MastodonCredentials, reset_seconds, status_length
from server.errors import HeraldError
from server.runtime import Runtime
from tests.support.factories import FAST_RETRY, call
from tests.support.fakes import engine_sync as e
from tests.support.fakes.mastodon import FakeMastodon

TOKEN = "mastodon-token-good"


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    fake = FakeMastodon(TOKEN)
    yield fake
    fake.stop()


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = e.engine_runtime(tmp_path)
    yield runtime
    runtime.close()


def mastodon_target(rt: Runtime, fake: FakeMastodon, token: str = TOKEN, **config: object) -> str:
    return e.create_target(
        rt, "mastodon", {"apiBaseUrl": fake.url, **config}, {"accessToken": token}, retryPolicy=FAST_RETRY
    )


def test_delivered_with_id_and_url_and_the_delivery_id_as_idempotency_key(rt: Runtime, mastodon: FakeMastodon) -> None:
    job_id = e.plan_job(rt, mastodon_target(rt, mastodon, visibility="unlisted"), url="https://example.com/n")
    assert e.attempt_once(rt, job_id).status == "delivered"
    [status] = mastodon.statuses
    assert status["text"] == "Market note\n\nRates held steady; the curve flattened.\n\nhttps://example.com/n"
    assert status["visibility"] == "unlisted"
    [request] = mastodon.at("/api/v1/statuses")
    assert request.headers["idempotency-key"] == job_id
    receipt = e.receipt(rt, job_id)
    assert receipt.external_id == status["id"]
    assert receipt.response_meta == {"url": status["url"], "uri": status["uri"], "statusCode": 200}


def test_429_pauses_until_x_ratelimit_reset_with_no_request_in_between(rt: Runtime, mastodon: FakeMastodon) -> None:
    mastodon.script = ["ratelimit"]
    target_id = mastodon_target(rt, mastodon)
    job_id = e.plan_job(rt, target_id)
    job = e.attempt_once(rt, job_id)
    paused = e.target(rt, target_id).paused_until
    assert paused is not None
    # The provider's reset, give or take the time to record the answer (a loaded host).
    assert timedelta(0) <= paused - mastodon.reset_at <= timedelta(seconds=1)
    assert (job.status, job.error_class, job.retries_used, job.next_attempt_at) == (
        "scheduled",
        "rate_limited",
        0,
        paused,
    )
    e.attempt_once(rt, job_id)
    assert len(mastodon.at("/api/v1/statuses")) == 1 and mastodon.statuses == []


@pytest.mark.slow  # waits out the client timeout
def test_a_retry_after_a_timeout_returns_the_same_status(rt: Runtime, mastodon: FakeMastodon) -> None:
    mastodon.script = ["stall"]
    job_id = e.plan_job(rt, mastodon_target(rt, mastodon))
    assert e.attempt_once(rt, job_id).outcome_unknown is True
    assert e.retry_when_due(rt, job_id).status == "delivered"
    [status] = mastodon.statuses  # one status, though two requests reached the instance
    requests = mastodon.at("/api/v1/statuses")
    assert [r.headers["idempotency-key"] for r in requests] == [job_id, job_id]
    assert e.receipt(rt, job_id).external_id == status["id"]


@pytest.mark.parametrize(
    ("script", "token", "error_class", "status", "phrase"),
    [
        ([], "wrong-token-123", "systemic", 401, "The access token is invalid"),
        (["revoked"], TOKEN, "systemic", 401, "issue a new one"),
        (["gone"], TOKEN, "permanent", 410, "The instance or account is gone"),
    ],
)
def test_errors_are_classified(
    rt: Runtime, mastodon: FakeMastodon, script: list[str], token: str, error_class: str, status: int, phrase: str
) -> None:
    mastodon.script = script
    job_id = e.plan_job(rt, mastodon_target(rt, mastodon, token))
    job = e.attempt_once(rt, job_id)
    assert (job.status, job.error_class) == ("failed", error_class) and phrase in (job.last_error or "")
    assert [a.status_code for a in e.attempts(rt, job_id)] == [status]
    assert mastodon.statuses == []


def test_long_content_fits_the_instance_limit_counting_urls_as_23(rt: Runtime, mastodon: FakeMastodon) -> None:
    mastodon.max_characters = 100
    body = "See https://example.com/" + "a" * 80 + " for more. " + "lorem ipsum " * 40
    job_id = e.plan_job(rt, mastodon_target(rt, mastodon, maxCharacters=100), body=body)
    assert e.attempt_once(rt, job_id).status == "delivered"
    [status] = mastodon.statuses
    assert status_length(status["text"]) <= 100 < len(status["text"])
    assert status["text"].endswith("…")


def test_a_status_over_the_instance_limit_is_permanent(rt: Runtime, mastodon: FakeMastodon) -> None:
    mastodon.max_characters = 60  # the instance is stricter than the target says
    job_id = e.plan_job(rt, mastodon_target(rt, mastodon), body="x" * 200)
    job = e.attempt_once(rt, job_id)
    assert (job.status, job.error_class) == ("failed", "permanent")
    assert "Text character limit of 60 exceeded" in (job.last_error or "")


def test_render_shows_the_exact_body_and_the_idempotency_header() -> None:
    view = TargetView("t", "m", "mastodon", MastodonConfig(language="en"), MastodonCredentials(access_token=TOKEN))
    payload = MastodonChannel().render(Content(id="c", version="1", title="T", body="B"), Policy(), view)
    assert payload.body == {"status": "T\n\nB", "visibility": "public", "language": "en"}
    assert payload.headers == {"Idempotency-Key": "<delivery id>"}


def test_reset_reads_iso_8601_with_microseconds() -> None:
    assert reset_seconds("2000-01-01T00:00:00.000000Z") == 0.0
    assert reset_seconds("tomorrow") is None


def test_invalid_config_is_refused(rt: Runtime) -> None:
    with pytest.raises(HeraldError) as refused:
        call(
            rt,
            "create_distribution_target",
            name="m",
            channel="mastodon",
            config={"maxCharacters": 10},
            credentials={"accessToken": TOKEN},
        )
    assert (refused.value.code, refused.value.field) == ("VALIDATION_ERROR", "config.maxCharacters")


@pytest.mark.integration
def test_on_postgresql_and_redis_delivered_paused_and_no_duplicate(
    request: pytest.FixtureRequest, tmp_path: Path, mastodon: FakeMastodon
) -> None:
    rt = e.engine_runtime(tmp_path, request, "postgresql")
    mastodon.script = ["stall"]
    job_id = e.plan_job(rt, mastodon_target(rt, mastodon))
    assert e.attempt_once(rt, job_id).outcome_unknown is True
    assert e.retry_when_due(rt, job_id).status == "delivered"
    assert len(mastodon.statuses) == 1
    mastodon.script = ["ratelimit"]
    target_id = e.job(rt, job_id).target_id
    limited = e.plan_job(rt, target_id)
    assert e.attempt_once(rt, limited).error_class == "rate_limited"
    paused = e.target(rt, target_id).paused_until
    assert paused is not None and timedelta(0) <= paused - mastodon.reset_at <= timedelta(seconds=1)


def test_images_are_uploaded_polled_until_processed_then_attached(mastodon: FakeMastodon) -> None:
    from datetime import UTC, datetime

    from adapters import Attachment, ChannelIO, DeliveryContext, Receipt
    from tests.adapters.support import delivery_loop

    mastodon.processing_polls = 2
    photo = Attachment(filename="chart.png", content_type="image/png", data=b"\x89PNG" + b"x" * 4000)
    other = Attachment(filename="notes.pdf", content_type="application/pdf", data=b"%PDF")
    content = Content(id="c", version="1", title="T", body="B", attachments=(photo, other))
    view = TargetView(
        "t", "m", "mastodon", MastodonConfig(api_base_url=mastodon.url), MastodonCredentials(access_token=TOKEN)
    )
    channel = MastodonChannel()
    payload = channel.render(content, Policy(), view)
    assert payload.body["media_ids"] == ["<uploaded at send: chart.png>"]  # a PDF is no Mastodon media

    async def send(io: ChannelIO) -> Receipt:
        return await channel.send(payload, view, DeliveryContext("job_1", 1, "pln_1", datetime.now(UTC)), io)

    loop = delivery_loop()
    try:
        receipt = loop.run(send)
    finally:
        loop.close()
    [(media_id, media)] = mastodon.media.items()
    assert (media["data"], media["description"]) == (photo.data, "chart.png")
    assert [r.method for r in mastodon.requests if "/media" in r.path] == ["POST", "GET", "GET", "GET"]
    [status] = mastodon.statuses
    assert status["media_attachments"] == [{"id": media_id, "type": "image"}]
    assert receipt.external_id == status["id"]
