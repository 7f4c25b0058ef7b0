"""Slack: ``chat.postMessage`` with a bot token and a channel id, or an incoming webhook.

The bot posts carry message metadata (``event_type: herald_delivery``, the delivery id in its
payload), so after a timeout ``reconcile`` reads the channel's latest messages
(``conversations.history`` with ``include_all_metadata``, needs ``channels:history``) and finds the
post instead of sending it twice. Slack answers errors as HTTP 200 ``{"ok": false, "error": …}``;
a 429 carries ``Retry-After`` in seconds. An incoming webhook answers ``ok`` in plain text, has no
message id and cannot be looked up.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlencode

from pydantic import field_validator, model_validator

from adapters.base import (
    Addressing,
    ChannelIO,
    ChannelLimits,
    ChannelName,
    ChannelPayload,
    ConfigError,
    Content,
    DeliveryContext,
    DeliveryError,
    Endpoint,
    Policy,
    Receipt,
    RecipientView,
    TargetView,
    TransientDeliveryError,
    Validated,
)
from adapters.http_client.netguard import split_url
from adapters.io import HttpAnswer
from adapters.provider import (
    DELIVERY_ID,
    body_json,
    excerpt,
    fit,
    header_seconds,
    permanent,
    rate_limited,
    server_error,
    systemic,
)
from adapters.render import ChannelModel, apply_policy, checked_url, json_bytes, validate_model

API_BASE_URL = "https://slack.com/api"
MAX_TEXT_CHARS = 40_000  # chat.postMessage truncates longer text
EVENT_TYPE = "herald_delivery"
MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3_000
MAX_HEADER_CHARS = 150
HISTORY_LIMIT = 200  # messages read back when reconciling: the post is among the channel's latest

SYSTEMIC_ERRORS = {
    "not_authed": "the token is missing",
    "invalid_auth": "the token is invalid (or the IP is not allowed)",
    "account_inactive": "the token's user or bot was deactivated",
    "token_revoked": "the token was revoked",
    "token_expired": "the token expired",
    "missing_scope": "the token lacks the chat:write scope",
    "no_permission": "the app lacks permission",
    "ekm_access_denied": "the workspace's key management denies access",
    "org_login_required": "the workspace is being migrated",
}
TARGET_ERRORS = {
    "channel_not_found": "the channel id does not exist or is private; use the channel's id (C…) and invite the app",
    "not_in_channel": "the app is not a member of the channel; invite it (/invite @app) or add chat:write.public",
    "is_archived": "the channel is archived; unarchive it or point the target at another channel",
    "restricted_action": "the workspace restricts posting to this channel",
    "restricted_action_read_only_channel": "the channel is read-only",
    "restricted_action_thread_only_channel": "the channel only accepts thread replies",
}
TRANSIENT_ERRORS = {"request_timeout", "service_unavailable", "internal_error", "fatal_error", "team_added_to_org"}
UNKNOWN_OUTCOME_ERRORS = {"internal_error", "fatal_error"}  # "some aspect of the operation may have succeeded"
RATE_LIMIT_ERRORS = {"ratelimited", "rate_limited"}
WEBHOOK_SYSTEMIC = {"invalid_token", "no_service", "no_service_id", "no_team", "team_disabled", "action_prohibited"}


class SlackConfig(ChannelModel):
    channel: str | None = None
    api_base_url: str = API_BASE_URL
    mrkdwn: bool = True
    unfurl_links: bool = False
    blocks: bool = False  # Block Kit: a header and mrkdwn sections; ``text`` stays the notification fallback

    @field_validator("api_base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return checked_url(value).rstrip("/")

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("give the channel's id (C…, G… or D…), or omit it for an incoming webhook")
        return value.strip() if value else None


class SlackCredentials(ChannelModel):
    bot_token: str | None = None
    webhook_url: str | None = None

    @field_validator("bot_token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("xoxb-", "xoxp-")):
            raise ValueError("a bot token starts with xoxb- (or a user token with xoxp-)")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        return checked_url(value) if value is not None else None

    @model_validator(mode="after")
    def _one(self) -> SlackCredentials:
        if (self.bot_token is None) == (self.webhook_url is None):
            raise ValueError("give either botToken (with config.channel) or webhookUrl, not both")
        return self


Target = TargetView[SlackConfig, SlackCredentials]


def escape(text: str) -> str:
    """Slack's formatting escapes: &, < and > are control characters in message text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackChannel:
    name: ClassVar[ChannelName] = ChannelName.SLACK
    addressing: ClassVar[Addressing] = "broadcast"
    description: ClassVar[str] = (
        "Slack message: chat.postMessage with a bot token (chat:write) and channel id, or an incoming webhook."
    )
    config_model = SlackConfig
    credentials_model: type[SlackCredentials] | None = SlackCredentials
    limits = ChannelLimits(max_text_chars=MAX_TEXT_CHARS)

    def validate(
        self, config: dict[str, Any], credentials: dict[str, Any] | None
    ) -> Validated[SlackConfig, SlackCredentials]:
        checked = validate_model(SlackConfig, config, "config")
        secrets = validate_model(SlackCredentials, credentials, "credentials")
        if secrets.bot_token is not None and checked.channel is None:
            raise ConfigError("config.channel: a bot token posts to a channel id (C…); give it.", "config.channel")
        endpoints = [Endpoint(checked.api_base_url, "config.apiBaseUrl")]
        if secrets.webhook_url is not None:
            # Only the origin: the webhook's path is its secret, and endpoints are shown (dead letters).
            hook = split_url(secrets.webhook_url)
            endpoints = [Endpoint(f"{hook.scheme}://{hook.host}:{hook.port}", "credentials.webhookUrl")]
        return Validated(checked, secrets, endpoints=tuple(endpoints))

    def render(
        self, content: Content, policy: Policy, target: Target, recipient: RecipientView | None = None
    ) -> ChannelPayload:
        config = target.config
        head = f"*{escape(content.title)}*\n" if config.mrkdwn else f"{content.title}\n"
        tail = f"\n<{content.url}>" if content.url else ""
        body = fit(escape(apply_policy(content, policy)), MAX_TEXT_CHARS - len(head) - len(tail), policy)
        text = head + body + tail
        extra = {"blocks": blocks(content, head + body + tail, policy)} if config.blocks else {}
        if target.credentials is not None and target.credentials.webhook_url is not None:
            return ChannelPayload(body={"text": text, "mrkdwn": config.mrkdwn, **extra}, meta={"mode": "webhook"})
        message = {
            "channel": config.channel,
            "text": text,
            "mrkdwn": config.mrkdwn,
            "unfurl_links": config.unfurl_links,
            "metadata": {"event_type": EVENT_TYPE, "event_payload": {"delivery_id": DELIVERY_ID}},
            **extra,
        }
        return ChannelPayload(body=message, content_type="application/json; charset=utf-8", meta={"mode": "bot"})

    async def send(self, payload: ChannelPayload, target: Target, delivery: DeliveryContext, io: ChannelIO) -> Receipt:
        credentials = _credentials(target)
        if credentials.webhook_url is not None:
            return await _send_webhook(payload, credentials.webhook_url, io)
        assert credentials.bot_token is not None
        body = dict(payload.body)
        body["metadata"] = {"event_type": EVENT_TYPE, "event_payload": {"delivery_id": delivery.delivery_id}}
        headers = {"Authorization": f"Bearer {credentials.bot_token}", "Content-Type": payload.content_type}
        url = f"{target.config.api_base_url}/chat.postMessage"
        answer = await io.http.exchange("POST", url, headers=headers, content=json_bytes(body))
        found = _ok(answer)
        return Receipt(
            external_id=str(found.get("ts")),
            meta={"channel": found.get("channel"), "ts": found.get("ts"), "statusCode": answer.status_code},
        )

    async def reconcile(
        self, payload: ChannelPayload, target: Target, delivery: DeliveryContext, io: ChannelIO
    ) -> Receipt | None:
        """The channel's latest messages, for one carrying this delivery's metadata; None when absent."""
        credentials = _credentials(target)
        if credentials.bot_token is None:
            return None  # an incoming webhook cannot read back
        query = urlencode(
            {"channel": target.config.channel, "include_all_metadata": "true", "limit": str(HISTORY_LIMIT)}
        )
        url = f"{target.config.api_base_url}/conversations.history?{query}"
        headers = {"Authorization": f"Bearer {credentials.bot_token}"}
        try:
            found = _ok(await io.http.exchange("GET", url, headers=headers, content=b""))
        except DeliveryError as exc:
            if exc.code == "SLACK_MISSING_SCOPE":
                return None  # no channels:history: Herald cannot check, so it sends (the README says so)
            raise
        for message in found.get("messages") or []:
            metadata = message.get("metadata") or {} if isinstance(message, dict) else {}
            event = metadata.get("event_payload") or {}
            if metadata.get("event_type") == EVENT_TYPE and event.get("delivery_id") == delivery.delivery_id:
                channel = target.config.channel
                return Receipt(external_id=str(message.get("ts")), meta={"channel": channel, "ts": message.get("ts")})
        return None


def blocks(content: Content, text: str, policy: Policy) -> list[dict[str, Any]]:
    """A header (150 characters, plain text) and the body in mrkdwn sections of at most 3,000 characters,
    at most 50 blocks in all (the last section cut with the policy's truncation)."""
    header = {"type": "header", "text": {"type": "plain_text", "text": fit(content.title, MAX_HEADER_CHARS, policy)}}
    body = text.split("\n", 1)[1] if "\n" in text else text  # the title is the header
    sections: list[dict[str, Any]] = []
    rest = body
    while rest and len(sections) < MAX_BLOCKS - 1:
        last = len(sections) == MAX_BLOCKS - 2
        piece = fit(rest, MAX_SECTION_CHARS, policy) if last else rest[:MAX_SECTION_CHARS]
        sections.append({"type": "section", "text": {"type": "mrkdwn", "text": piece}})
        rest = "" if last else rest[MAX_SECTION_CHARS:]
    return [header, *sections]


def _credentials(target: Target) -> SlackCredentials:
    if target.credentials is None:
        raise systemic("The Slack target has no credentials; set botToken or webhookUrl.", None, "SLACK_NO_TOKEN")
    return target.credentials


def _ok(answer: HttpAnswer) -> dict[str, Any]:
    """The body of an ``ok: true`` answer, or the classified error Slack's answer means."""
    body = body_json(answer)
    if answer.status_code == 429:
        seconds = header_seconds(answer.headers.get("retry-after"))
        raise rate_limited("Slack rate-limited the app (HTTP 429).", answer, seconds, "SLACK_RATELIMITED")
    if answer.status_code >= 500:
        raise server_error("Slack", answer)
    if answer.status_code == 200 and body.get("ok") is True:
        return body
    error = str(body.get("error") or f"http_{answer.status_code}")
    code = f"SLACK_{error.upper()}"[:60]
    if error in RATE_LIMIT_ERRORS:
        seconds = header_seconds(answer.headers.get("retry-after"))
        raise rate_limited(f"Slack answered {error}.", answer, seconds, code)
    if error in SYSTEMIC_ERRORS:
        raise systemic(
            f"Slack refused the token: {SYSTEMIC_ERRORS[error]} ({error}); fix the target's botToken.", answer, code
        )
    if error in TARGET_ERRORS:
        raise permanent(f"Slack cannot post there: {TARGET_ERRORS[error]} ({error}).", answer, code)
    if error in TRANSIENT_ERRORS:
        raise TransientDeliveryError(
            f"Slack answered {error}; Herald will retry.",
            status_code=answer.status_code,
            code=code,
            response_excerpt=excerpt(answer),
            outcome_unknown=error in UNKNOWN_OUTCOME_ERRORS,
        )
    raise permanent(f"Slack refused the message ({error}); retrying will not help.", answer, code)


async def _send_webhook(payload: ChannelPayload, url: str, io: ChannelIO) -> Receipt:
    headers = {"Content-Type": "application/json"}
    answer = await io.http.exchange("POST", url, headers=headers, content=json_bytes(payload.body))
    text = (answer.text or "").strip()
    if answer.status_code == 200:
        return Receipt(external_id=None, meta={"statusCode": 200, "mode": "webhook"})
    if answer.status_code == 429:
        seconds = header_seconds(answer.headers.get("retry-after"))
        raise rate_limited("Slack rate-limited the webhook (HTTP 429).", answer, seconds, "SLACK_RATELIMITED")
    if answer.status_code >= 500:
        raise server_error("Slack", answer)
    code = f"SLACK_{text.upper()}"[:60] if text.isidentifier() else f"HTTP_{answer.status_code}"
    if text in WEBHOOK_SYSTEMIC or answer.status_code in (401, 403):
        raise systemic(
            f"Slack refused the webhook ({text}); create a new incoming webhook and update the target.", answer, code
        )
    if text in ("channel_not_found", "channel_is_archived") or answer.status_code in (404, 410):
        raise permanent(f"The webhook's channel is gone ({text}); create a webhook for another channel.", answer, code)
    raise permanent(f"Slack refused the message ({text or answer.status_code}); retrying will not help.", answer, code)


__all__ = ["SlackChannel", "SlackConfig", "SlackCredentials", "escape"]
