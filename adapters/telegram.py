"""Telegram Bot API: one call, ``POST {apiBaseUrl}/bot{botToken}/{method}`` with a JSON body.

``sendMessage`` (text up to 4,096 characters after entity parsing), or ``sendPhoto`` / ``sendDocument`` by
URL (caption up to 1,024) when the content carries media or a URL attachment. The token is in the path.
Every answer is the envelope ``{"ok", "result" | "error_code", "description", "parameters"}``: a flood
limit is ``429`` with ``parameters.retry_after`` (integer seconds); a group upgraded to a supergroup is
``400`` with ``parameters.migrate_to_chat_id`` (the target needs the new id); 401/404 is a bad token.

Addressed ``"either"``: a plan that names recipients gets one job per recipient, whose ``addresses.telegram``
(``RecipientView.address``) is the chat id; a plan without recipients posts to the target's ``chatId``.
"""

from __future__ import annotations

import html
import re
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from adapters.base import (
    Addressing,
    ChannelIO,
    ChannelLimits,
    ChannelName,
    ChannelPayload,
    Content,
    DeliveryContext,
    DeliveryError,
    PermanentDeliveryError,
    Policy,
    RateLimitedError,
    Receipt,
    RecipientUnreachableError,
    RecipientView,
    SystemicDeliveryError,
    TargetView,
    TransientDeliveryError,
    Validated,
)
from adapters.chat import base_url, body_of, excerpt, joined, looks_like_image, message_parts, obj, seconds
from adapters.io import HttpAnswer
from adapters.render import ChannelModel, json_bytes, validate_provider

DEFAULT_API = "https://api.telegram.org"
MAX_TEXT = 4096
MAX_CAPTION = 1024
ParseMode = Literal["HTML", "MarkdownV2", "none"]
_TOKEN = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$")
_CHAT = re.compile(r"^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$")
_MARKDOWN_V2 = re.compile(r"([_*\[\]()~`>#+\-=|{}.!\\])")
# Documented descriptions of a recipient who can never be reached by this bot (403), and of a missing chat (400).
_UNREACHABLE = ("blocked by the user", "user is deactivated", "can't initiate conversation", "bot can't send messages")
_NO_CHAT = ("chat not found", "user not found", "peer_id_invalid")


def chat_id_of(value: str | int) -> int | str:
    """A numeric chat id as the integer Telegram sends back (ids exceed 32 bits), ``@channelname`` as it is."""
    text = str(value).strip()
    if not _CHAT.fullmatch(text):
        raise ValueError("must be a numeric chat id (e.g. -1001234567890) or a public @channelusername")
    return text if text.startswith("@") else int(text)


class TelegramConfig(ChannelModel):
    chat_id: int | str | None = Field(
        None, description="The chat a plan without recipients posts to; recipients are reached at their telegram id."
    )
    api_base_url: str = DEFAULT_API
    parse_mode: ParseMode = "HTML"
    message_thread_id: int | None = Field(None, ge=1)
    disable_notification: bool = False
    disable_link_preview: bool = False

    @field_validator("chat_id")
    @classmethod
    def _chat(cls, value: int | str | None) -> int | str | None:
        return None if value is None else chat_id_of(value)

    @field_validator("api_base_url")
    @classmethod
    def _base(cls, value: str) -> str:
        return base_url(value)


class TelegramCredentials(ChannelModel):
    bot_token: str = Field(description="The token @BotFather gave the bot (123456:ABC-…).")

    @field_validator("bot_token")
    @classmethod
    def _token(cls, value: str) -> str:
        if not _TOKEN.fullmatch(value):
            raise ValueError("must be a bot token as @BotFather gives it: digits, a colon, then letters and digits")
        return value


Target = TargetView[TelegramConfig, TelegramCredentials]


def _escape(text: str, mode: ParseMode) -> str:
    if mode == "HTML":
        return html.escape(text, quote=False)
    if mode == "MarkdownV2":
        return _MARKDOWN_V2.sub(r"\\\1", text)
    return text


def _bold(text: str, mode: ParseMode) -> str:
    if not text or mode == "none":
        return text
    return f"<b>{text}</b>" if mode == "HTML" else f"*{text}*"


def formatted(content: Content, policy: Policy, mode: ParseMode, limit: int) -> str:
    """The message in ``mode``: its visible text (what the limit counts, after entity parsing) fits ``limit``."""
    heading, body, link = message_parts(content, policy, limit)
    return joined(_bold(_escape(heading, mode), mode), _escape(body, mode), _escape(link, mode))


def render_call(
    content: Content, policy: Policy, config: TelegramConfig, recipient: RecipientView | None
) -> tuple[str, dict[str, Any]]:
    """(method, JSON body): the one Bot API call this content becomes."""
    chat: int | str | None = config.chat_id
    if recipient is not None:
        try:
            chat = chat_id_of(recipient.address)
        except ValueError:
            chat = recipient.address  # sent as given; Telegram answers "chat not found" for what it is
    body: dict[str, Any] = {"chat_id": chat}
    media = content.media_urls[0] if content.media_urls else None
    document = next((a for a in content.attachments if a.url), None)
    if media is not None or document is not None:
        if media is not None and looks_like_image(media):
            method, body["photo"] = "sendPhoto", media
        else:
            method, body["document"] = "sendDocument", media or (document.url if document else None)
        body["caption"] = formatted(content, policy, config.parse_mode, MAX_CAPTION)
    else:
        method, body["text"] = "sendMessage", formatted(content, policy, config.parse_mode, MAX_TEXT)
        if config.disable_link_preview:
            body["link_preview_options"] = {"is_disabled": True}
    if config.parse_mode != "none":
        body["parse_mode"] = config.parse_mode
    if config.message_thread_id is not None:
        body["message_thread_id"] = config.message_thread_id
    if config.disable_notification:
        body["disable_notification"] = True
    return method, body


def classify(answer: HttpAnswer, *, addressed: bool) -> Receipt:
    """``ok: true`` with the sent Message becomes the receipt (chat id + message id); else the classified error."""
    body = body_of(answer)
    result = body.get("result")
    if 200 <= answer.status_code < 300 and body.get("ok") is True and isinstance(result, dict):
        chat = obj(result.get("chat"))
        message_id, chat_id = result.get("message_id"), chat.get("id")
        return Receipt(
            external_id=f"{chat_id}:{message_id}",
            meta={"statusCode": answer.status_code, "chatId": chat_id, "messageId": message_id},
        )
    raise error_for(answer, body, addressed=addressed)


def error_for(answer: HttpAnswer, body: dict[str, Any], *, addressed: bool) -> DeliveryError:
    given = body.get("error_code")
    code = given if isinstance(given, int) else answer.status_code
    said = str(body.get("description") or f"HTTP {answer.status_code}")
    lowered = said.lower()
    parameters = obj(body.get("parameters"))
    facts: dict[str, Any] = {"status_code": answer.status_code, "response_excerpt": excerpt(answer)}
    if code == 429 or "retry_after" in parameters:
        wait = seconds(parameters.get("retry_after"))
        return RateLimitedError(
            f"Telegram's flood control: {said}; Herald pauses the target for {wait or 'the default'} s.",
            retry_after_seconds=wait,
            code="TELEGRAM_FLOOD",
            **facts,
        )
    if "migrate_to_chat_id" in parameters:
        new_id = parameters["migrate_to_chat_id"]
        return PermanentDeliveryError(
            f"Telegram: the group became a supergroup with chat id {new_id}. Update the target's chatId "
            f"(or the recipient's telegram address) to {new_id}, then retry the failed jobs.",
            code="TELEGRAM_CHAT_MIGRATED",
            **facts,
        )
    if code in (401, 404):
        return SystemicDeliveryError(
            f"Telegram refused the bot token ({said}); get the token from @BotFather and update the target's botToken.",
            code=f"TELEGRAM_{code}",
            **facts,
        )
    if code == 403 or any(part in lowered for part in _NO_CHAT):
        unreachable = code == 403 and any(part in lowered for part in _UNREACHABLE)
        if addressed:
            return RecipientUnreachableError(
                f"Telegram cannot reach this recipient ({said}); they must start a chat with the bot (or unblock "
                "it) before it can message them, then update their telegram address.",
                code=f"TELEGRAM_{code}",
                **facts,
            )
        what = "the bot is blocked" if unreachable else said
        return PermanentDeliveryError(
            f"Telegram cannot post to the target's chat ({what}); add the bot to the chat (as an admin allowed to "
            "post, for a channel) or fix config.chatId, then retry the failed jobs.",
            code=f"TELEGRAM_{code}",
            **facts,
        )
    if code >= 500 or code == 408 or answer.status_code >= 500:
        return TransientDeliveryError(
            f"Telegram is unavailable ({said}); Herald will retry.", code=f"TELEGRAM_{code}", **facts
        )
    return PermanentDeliveryError(
        f"Telegram refused this message ({said}); retrying it will not help: check its formatting (parseMode) "
        f"and length ({MAX_TEXT} characters, {MAX_CAPTION} for a caption).",
        code=f"TELEGRAM_{code}",
        **facts,
    )


class TelegramChannel:
    name: ClassVar[ChannelName] = ChannelName.TELEGRAM
    # Per recipient (their telegram chat id) when the plan names recipients, else to config.chatId.
    addressing: ClassVar[Addressing] = "either"
    description: ClassVar[str] = (
        "Telegram Bot API sendMessage (4,096 characters, HTML or MarkdownV2), or sendPhoto / sendDocument by URL; "
        "to config.chatId, or to each recipient's telegram chat id."
    )
    config_model = TelegramConfig
    credentials_model: type[TelegramCredentials] | None = TelegramCredentials
    limits = ChannelLimits(max_text_chars=MAX_TEXT, max_attachments=1, max_attachment_bytes=20_000_000)

    def validate(
        self, config: dict[str, Any], credentials: dict[str, Any] | None
    ) -> Validated[TelegramConfig, TelegramCredentials]:
        return validate_provider(TelegramConfig, TelegramCredentials, config, credentials)

    def render(
        self, content: Content, policy: Policy, target: Target, recipient: RecipientView | None = None
    ) -> ChannelPayload:
        method, body = render_call(content, policy, target.config, recipient)
        return ChannelPayload(body=body, meta={"method": method})

    async def send(self, payload: ChannelPayload, target: Target, delivery: DeliveryContext, io: ChannelIO) -> Receipt:
        if target.credentials is None:
            raise SystemicDeliveryError(
                "The Telegram target has no bot token; update its credentials.", code="NO_CREDENTIALS"
            )
        if payload.body.get("chat_id") is None:
            raise PermanentDeliveryError(
                "This Telegram target has no chatId and the delivery no recipient: set config.chatId, or deliver "
                "to recipients with a telegram address.",
                code="TELEGRAM_NO_CHAT",
            )
        url = f"{target.config.api_base_url}/bot{target.credentials.bot_token}/{payload.meta['method']}"
        answer = await io.http.exchange(
            "POST", url, headers={"Content-Type": "application/json"}, content=json_bytes(payload.body)
        )
        return classify(answer, addressed=delivery.recipient_id is not None or target.config.chat_id is None)


__all__ = ["TelegramChannel", "TelegramConfig", "TelegramCredentials", "classify", "render_call"]
