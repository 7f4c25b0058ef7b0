"""Slack through the engine against a faithful fake: receipt, Retry-After pause, no duplicate after a timeout,
token and channel errors classified; render and validation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from adapters import Content, Policy, TargetView
from adapters.slack import SlackChannel, SlackConfig, SlackCredentials
from server.errors import HeraldError
from server.models.base import utcnow
from server.runtime import Runtime
from tests.support.factories import FAST_RETRY, call
from tests.support.fakes import engine_sync as e
from tests.support.fakes.slack import FakeSlack

TOKEN = "xoxb-1-good"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(TOKEN)
    yield fake
    fake.stop()


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = e.engine_runtime(tmp_path)
    yield runtime
    runtime.close()


def slack_target(rt: Runtime, slack: FakeSlack, channel: str = "C0HERALD1", token: str = TOKEN) -> str:
    config = {"channel": channel, "apiBaseUrl": slack.api}
    return e.create_target(rt, "slack", config, {"botToken": token}, retryPolicy=FAST_RETRY)


def test_delivered_with_channel_and_ts_and_metadata(rt: Runtime, slack: FakeSlack) -> None:
    job_id = e.plan_job(rt, slack_target(rt, slack), title="Rates <held>", url="https://example.com/n")
    job = e.attempt_once(rt, job_id)
    [message] = slack.posted()
    assert message["text"] == "*Rates &lt;held&gt;*\nRates held steady; the curve flattened.\n<https://example.com/n>"
    assert message["metadata"] == {"event_type": "herald_delivery", "event_payload": {"delivery_id": job_id}}
    [request] = slack.at("/api/chat.postMessage")
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert (job.status, job.attempts) == ("delivered", 1)
    receipt = e.receipt(rt, job_id)
    assert receipt.external_id == message["ts"]
    assert receipt.response_meta == {"channel": "C0HERALD1", "ts": message["ts"], "statusCode": 200}


def test_429_pauses_until_retry_after_with_no_request_in_between(rt: Runtime, slack: FakeSlack) -> None:
    slack.script = ["ratelimit"]
    target_id = slack_target(rt, slack)
    job_id = e.plan_job(rt, target_id)
    job = e.attempt_once(rt, job_id)
    recorded = utcnow()
    paused = e.target(rt, target_id).paused_until
    [attempt] = e.attempts(rt, job_id)
    assert paused is not None
    answered = attempt.started_at + timedelta(milliseconds=attempt.duration_ms)
    assert answered <= paused - timedelta(seconds=7) <= recorded  # Retry-After: 7, from the answer
    assert (job.status, job.error_class, job.retries_used, job.next_attempt_at) == (
        "scheduled",
        "rate_limited",
        0,
        paused,
    )
    e.attempt_once(rt, job_id)  # early: held by the pause, nothing sent
    assert len(slack.at("/api/chat.postMessage")) == 1 and slack.posted() == []
    assert len(e.attempts(rt, job_id)) == 1
    assert (attempt.status_code, attempt.error_code) == (429, "SLACK_RATELIMITED")


@pytest.mark.slow  # waits out the client timeout
def test_a_timeout_after_the_post_landed_reconciles_instead_of_posting_twice(rt: Runtime, slack: FakeSlack) -> None:
    slack.script = ["stall"]
    job_id = e.plan_job(rt, slack_target(rt, slack))
    first = e.attempt_once(rt, job_id)
    assert (first.status, first.error_class, first.outcome_unknown) == ("scheduled", "transient", True)
    second = e.retry_when_due(rt, job_id)
    assert second.status == "delivered"
    [message] = slack.posted()  # exactly one post
    assert len(slack.at("/api/chat.postMessage")) == 1
    [history] = slack.at("/api/conversations.history")
    assert (history.query["include_all_metadata"], history.query["limit"]) == ("true", "200")
    receipt = e.receipt(rt, job_id)
    assert receipt.external_id == message["ts"]
    assert receipt.response_meta == {"channel": "C0HERALD1", "ts": message["ts"], "reconciled": True}
    assert [(a.error_code, a.reconciled, a.outcome) for a in e.attempts(rt, job_id)] == [
        ("TIMEOUT", None, "transient"),
        (None, "found", "delivered"),
    ]


@pytest.mark.slow  # waits out the client timeout
def test_a_timeout_before_anything_landed_reconciles_then_sends_once(rt: Runtime, slack: FakeSlack) -> None:
    slack.script = ["lost"]
    job_id = e.plan_job(rt, slack_target(rt, slack))
    assert e.attempt_once(rt, job_id).outcome_unknown is True
    assert e.retry_when_due(rt, job_id).status == "delivered"
    assert len(slack.posted()) == 1 and len(slack.at("/api/conversations.history")) == 1
    assert [(a.error_code, a.reconciled, a.outcome) for a in e.attempts(rt, job_id)] == [
        ("TIMEOUT", None, "transient"),
        (None, "not_found", "delivered"),
    ]
    assert "reconciled" not in e.receipt(rt, job_id).response_meta


@pytest.mark.slow  # waits out the client timeout
def test_a_lookup_that_fails_leaves_the_outcome_unknown_and_posts_nothing(rt: Runtime, slack: FakeSlack) -> None:
    slack.script, slack.history_script = ["stall"], ["ratelimit"]
    target_id = slack_target(rt, slack)
    job_id = e.plan_job(rt, target_id)
    e.attempt_once(rt, job_id)
    second = e.retry_when_due(rt, job_id)  # the lookup is rate-limited: nothing is sent, the doubt remains
    assert (second.status, second.error_class, second.outcome_unknown) == ("scheduled", "rate_limited", True)
    assert len(slack.at("/api/chat.postMessage")) == 1 and len(slack.posted()) == 1
    call(rt, "resume_distribution_target", id=target_id)
    third = e.attempt_once(rt, job_id)
    assert third.status == "delivered" and len(slack.posted()) == 1
    assert [(a.error_code, a.reconciled) for a in e.attempts(rt, job_id)] == [
        ("TIMEOUT", None),
        ("SLACK_RATELIMITED", None),
        (None, "found"),
    ]


@pytest.mark.parametrize(
    ("setup", "error_class", "code", "phrase"),
    [
        ("revoked", "systemic", "SLACK_TOKEN_REVOKED", "the token was revoked"),
        ("bad_token", "systemic", "SLACK_INVALID_AUTH", "the token is invalid"),
        ("unknown_channel", "permanent", "SLACK_CHANNEL_NOT_FOUND", "use the channel's id"),
        ("not_member", "permanent", "SLACK_NOT_IN_CHANNEL", "invite it (/invite @app)"),
    ],
)
def test_token_and_channel_errors_are_classified(
    rt: Runtime, slack: FakeSlack, setup: str, error_class: str, code: str, phrase: str
) -> None:
    channel, token = "C0HERALD1", TOKEN
    if setup == "revoked":
        slack.script = ["revoked"]
    elif setup == "bad_token":
        token = "xoxb-1-wrong"
    elif setup == "unknown_channel":
        channel = "C0NOPE"
    else:
        slack.members.clear()
    job_id = e.plan_job(rt, slack_target(rt, slack, channel, token))
    job = e.attempt_once(rt, job_id)
    assert (job.status, job.error_class, job.attempts) == ("failed", error_class, 1)
    assert phrase in (job.last_error or "") and token not in (job.last_error or "")
    [attempt] = e.attempts(rt, job_id)
    assert (attempt.error_code, attempt.status_code) == (code, 200)
    assert slack.posted() == []


def test_incoming_webhook_posts_text_and_its_url_is_a_secret(rt: Runtime, slack: FakeSlack) -> None:
    hook = slack.url + slack.hook_path
    target_id = e.create_target(rt, "slack", {}, {"webhookUrl": hook})
    job_id = e.plan_job(rt, target_id)
    assert e.attempt_once(rt, job_id).status == "delivered"
    assert slack.hook_posts == [{"text": "*Market note*\nRates held steady; the curve flattened.", "mrkdwn": True}]
    assert e.receipt(rt, job_id).response_meta == {"statusCode": 200, "mode": "webhook"}
    shown = call(rt, "get_distribution_target", id=target_id).model_dump_json()
    assert "hooksecret" not in shown


@pytest.mark.parametrize(
    ("config", "credentials", "field"),
    [
        ({"channel": "C1"}, {"botToken": "not-a-token"}, "credentials.botToken"),
        ({}, {"botToken": TOKEN}, "config.channel"),
        ({"channel": "C1"}, {}, "credentials"),
        ({"channel": "C1", "apiBaseUrl": "ftp://x"}, {"botToken": TOKEN}, "config.apiBaseUrl"),
    ],
)
def test_invalid_targets_are_refused_naming_the_field(
    rt: Runtime, config: dict[str, str], credentials: dict[str, str], field: str
) -> None:
    with pytest.raises(HeraldError) as refused:
        call(rt, "create_distribution_target", name="s", channel="slack", config=config, credentials=credentials)
    assert (refused.value.code, refused.value.field) == ("VALIDATION_ERROR", field)


def test_render_fits_40000_characters_with_the_policy_truncation() -> None:
    view = TargetView("t", "s", "slack", SlackConfig(channel="C1"), SlackCredentials(bot_token=TOKEN))
    content = Content(id="c", version="1", title="T", body="word " * 10_000)
    payload = SlackChannel().render(content, Policy(truncate="word"), view)
    assert len(payload.body["text"]) <= 40_000 and payload.body["text"].endswith("word…")
    assert payload.body["metadata"]["event_payload"] == {"delivery_id": "<delivery id>"}


@pytest.mark.integration
def test_on_postgresql_and_redis_delivered_then_no_duplicate_after_a_timeout(
    request: pytest.FixtureRequest, tmp_path: Path, slack: FakeSlack
) -> None:
    rt = e.engine_runtime(tmp_path, request, "postgresql")
    target_id = slack_target(rt, slack)
    assert e.attempt_once(rt, e.plan_job(rt, target_id)).status == "delivered"
    slack.script = ["stall"]
    job_id = e.plan_job(rt, target_id)
    assert e.attempt_once(rt, job_id).outcome_unknown is True
    assert e.retry_when_due(rt, job_id).status == "delivered"
    assert len(slack.posted()) == 2 and len(slack.at("/api/chat.postMessage")) == 2
    assert [a.reconciled for a in e.attempts(rt, job_id)] == [None, "found"]


def test_blocks_keep_to_block_kit_limits_and_slack_accepts_them(rt: Runtime, slack: FakeSlack) -> None:
    config = {"channel": "C0HERALD1", "apiBaseUrl": slack.api, "blocks": True}
    target_id = e.create_target(rt, "slack", config, {"botToken": TOKEN})
    job_id = e.plan_job(rt, target_id, title="T" * 200, body="x" * 7_000)
    assert e.attempt_once(rt, job_id).status == "delivered"  # the fake refuses invalid_blocks
    [message] = slack.posted()
    [request] = slack.at("/api/chat.postMessage")
    blocks = request.json()["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "section", "section"]
    assert len(blocks[0]["text"]["text"]) == 150 and blocks[0]["text"]["text"].endswith("…")
    assert [len(b["text"]["text"]) for b in blocks[1:]] == [3000, 3000, 1000]
    assert message["text"].startswith("*" + "T" * 200 + "*\n")
