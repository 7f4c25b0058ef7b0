"""WhatsApp Business Cloud API: one call, ``POST {apiBaseUrl}/{phoneNumberId}/messages`` with a bearer token.

Addressed ``"either"``: each recipient's E.164 number (``RecipientView.address``) is ``to``; a plan without
recipients messages the target's fixed ``config.to`` (an operator's phone), else its job fails at once.
The message is a template when the content's ``metadata.whatsappTemplate`` or the target's
``config.template`` names one (needed outside the 24-hour customer-service window, so for every
business-initiated send), else text (4,096 characters), or media by link (image or document, caption
1,024). ``biz_opaque_callback_data`` carries Herald's delivery id, echoed in status webhooks.

The answer only says Meta accepted the message (receipt: the ``wamid``); ``/inbound/whatsapp/{targetId}``
moves the receipt to sent / delivered / read / failed as status webhooks arrive. Errors are Graph error
objects; Meta asks that handling is built on ``error.code``. There is no reset time on any limit, so
the pauses are Herald's own (``config.*PauseSeconds``): 130429 (the number's throughput) and 80007 / 4
(the account's and the app's call limits) pause the target; 131056 (too many messages to one recipient)
retries only that job, after ``config.pairRetrySeconds``.
"""

from __future__ import annotations

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
from adapters.chat import base_url, body_of, excerpt, joined, looks_like_image, message_parts, obj
from adapters.io import HttpAnswer
from adapters.render import ChannelModel, apply_policy, json_bytes, validate_provider

DEFAULT_API = "https://graph.facebook.com/v25.0"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_TEMPLATE_PARAMETER = 1024
TEMPLATE_METADATA_KEY = "whatsappTemplate"
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_DIGITS = re.compile(r"^[0-9]{5,25}$")
_TOKEN = re.compile(r"^[A-Za-z0-9._~+/=-]{20,1024}$")
ContentField = Literal["title", "body", "excerpt", "url"]

RATE_CODES = {130429: "the phone number's throughput", 131048: "the spam rate limit (check the quality rating)"}
ACCOUNT_RATE_CODES = {80007: "the WhatsApp Business Account's rate limit", 4: "the app's API call limit"}
PAIR_RATE = 131056
WINDOW_CLOSED = 131047
SYSTEMIC_CODES = {
    0: "the access token could not be authenticated",
    190: "the access token expired or was revoked",
    3: "the app lacks the capability",
    10: "permission not granted",
    131005: "permission denied",
    368: "the account is restricted",
    131031: "the business account is locked",
    130497: "the account may not message this country",
    131042: "a payment method problem",
    131045: "the phone number is not registered",
    33: "the business phone number was deleted",
    131037: "the display name is not approved",
}
UNREACHABLE_CODES = {
    131026: "not a WhatsApp number, or the recipient has not accepted the terms or uses an old client",
    131050: "the recipient stopped marketing messages",
    130403: "the business blocked this recipient",
    131021: "the recipient is the business number itself",
    130472: "the recipient is in a Meta experiment group",
    131030: "the recipient is not in the test number's allowed list",
}
TRANSIENT_CODES = {
    1: "invalid request or server error",
    2: "temporary downtime or overload",
    131000: "an unknown error",
    131016: "the service is temporarily unavailable",
    131057: "the account is in maintenance mode",
}


class TemplateConfig(ChannelModel):
    """A pre-approved template: its name and language, with components sent as given or body parameters
    taken from the content (``bodyParameters: ["title", "url"]`` fills {{1}} and {{2}})."""

    name: str = Field(min_length=1, max_length=512)
    language: str = Field("en_US", min_length=2, max_length=35)
    components: list[dict[str, Any]] | None = None
    body_parameters: list[ContentField] = Field(default_factory=list, max_length=10)


class WhatsAppConfig(ChannelModel):
    phone_number_id: str = Field(description="The business phone number's id (WhatsApp Manager → API setup).")
    api_base_url: str = DEFAULT_API
    to: str | None = Field(None, description="A fixed E.164 number for a target that always messages one person.")
    template: TemplateConfig | None = None
    preview_url: bool = True
    throughput_pause_seconds: float = Field(5.0, gt=0, le=3600, allow_inf_nan=False)
    account_pause_seconds: float = Field(300.0, gt=0, le=86400, allow_inf_nan=False)
    pair_retry_seconds: float = Field(6.0, gt=0, le=3600, allow_inf_nan=False)

    @field_validator("phone_number_id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _DIGITS.fullmatch(value):
            raise ValueError("must be the phone number's id (digits), not the phone number")
        return value

    @field_validator("api_base_url")
    @classmethod
    def _base(cls, value: str) -> str:
        return base_url(value)

    @field_validator("to")
    @classmethod
    def _to(cls, value: str | None) -> str | None:
        if value is not None and not E164.fullmatch(value):
            raise ValueError("must be an E.164 number: + and the country code, e.g. +16505551234")
        return value


class WhatsAppCredentials(ChannelModel):
    access_token: str = Field(description="A system-user access token with whatsapp_business_messaging.")
    app_secret: str | None = Field(None, min_length=8, description="The app secret (signs status webhooks).")
    verify_token: str | None = Field(None, min_length=8, description="What Meta echoes when it verifies the webhook.")

    @field_validator("access_token")
    @classmethod
    def _token(cls, value: str) -> str:
        if not _TOKEN.fullmatch(value):
            raise ValueError("must be the access token itself (without 'Bearer ')")
        return value


Target = TargetView[WhatsAppConfig, WhatsAppCredentials]


def _template_of(content: Content, config: WhatsAppConfig) -> TemplateConfig | None:
    chosen = content.metadata.get(TEMPLATE_METADATA_KEY)
    if isinstance(chosen, dict):
        return TemplateConfig.model_validate(chosen)
    return config.template


def _parameter(content: Content, policy: Policy, field: ContentField) -> str:
    values = {"title": content.title, "body": apply_policy(content, policy), "excerpt": content.excerpt or "",
              "url": content.url or ""}  # fmt: skip
    text = " ".join(values[field].split())  # template parameters may not hold newlines or tabs
    return text[:MAX_TEMPLATE_PARAMETER]


def template_body(template: TemplateConfig, content: Content, policy: Policy) -> dict[str, Any]:
    components = [dict(component) for component in template.components or []]
    if template.body_parameters:
        parameters = [{"type": "text", "text": _parameter(content, policy, f)} for f in template.body_parameters]
        components = [c for c in components if str(c.get("type", "")).lower() != "body"]
        components.append({"type": "body", "parameters": parameters})
    body: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if components:
        body["components"] = components
    return body


def render_message(
    content: Content, policy: Policy, config: WhatsAppConfig, recipient: RecipientView | None
) -> dict[str, Any]:
    """The Messages API body; ``to`` is the recipient's number, else ``config.to``, else None (a preview)."""
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": recipient.address if recipient is not None else config.to,
    }
    template = _template_of(content, config)
    media = content.media_urls[0] if content.media_urls else None
    document = next((a for a in content.attachments if a.url), None)
    if template is not None:
        body["type"], body["template"] = "template", template_body(template, content, policy)
    elif media is not None and looks_like_image(media):
        caption = joined(*message_parts(content, policy, MAX_CAPTION))
        body["type"], body["image"] = "image", {"link": media, "caption": caption}
    elif media is not None or document is not None:
        link = media or (document.url if document else None) or ""
        filename = document.filename if document is not None and not media else link.rsplit("/", 1)[-1]
        caption = joined(*message_parts(content, policy, MAX_CAPTION))
        body["type"], body["document"] = "document", {"link": link, "filename": filename, "caption": caption}
    else:
        heading, text, link = message_parts(content, policy, MAX_TEXT - 2)  # 2: the title's * markers
        body["type"] = "text"
        text = joined(f"*{heading}*" if heading else "", text, link)
        body["text"] = {"preview_url": config.preview_url, "body": text}
    return body


def classify(answer: HttpAnswer, config: WhatsAppConfig) -> Receipt:
    body = body_of(answer)
    messages = body.get("messages")
    if 200 <= answer.status_code < 300 and isinstance(messages, list) and messages and isinstance(messages[0], dict):
        wamid = messages[0].get("id")
        contacts = body.get("contacts") if isinstance(body.get("contacts"), list) else []
        wa_id = contacts[0].get("wa_id") if contacts and isinstance(contacts[0], dict) else None
        meta = {"statusCode": answer.status_code, "waId": wa_id, "status": "accepted"}
        if messages[0].get("message_status"):
            meta["messageStatus"] = messages[0]["message_status"]
        return Receipt(external_id=str(wamid) if wamid else None, meta=meta)
    raise error_for(answer, body, config)


def error_for(answer: HttpAnswer, body: dict[str, Any], config: WhatsAppConfig) -> DeliveryError:
    error = obj(body.get("error"))
    code = error.get("code") if isinstance(error.get("code"), int) else None
    data = obj(error.get("error_data"))
    said = str(data.get("details") or error.get("message") or f"HTTP {answer.status_code}")
    facts: dict[str, Any] = {
        "status_code": answer.status_code,
        "response_excerpt": excerpt(answer),
        "code": f"WHATSAPP_{code}" if code is not None else f"HTTP_{answer.status_code}",
    }
    if code in RATE_CODES:
        wait = config.throughput_pause_seconds
        return RateLimitedError(
            f"WhatsApp: {RATE_CODES[code]} was reached ({said}); Herald pauses the target for {wait:g} s.",
            retry_after_seconds=wait,
            **facts,
        )
    if code in ACCOUNT_RATE_CODES:
        wait = config.account_pause_seconds
        return RateLimitedError(
            f"WhatsApp: {ACCOUNT_RATE_CODES[code]} was reached ({said}); Herald pauses the target for {wait:g} s.",
            retry_after_seconds=wait,
            **facts,
        )
    if code == PAIR_RATE:
        return TransientDeliveryError(
            f"WhatsApp: too many messages to this recipient ({said}); Herald retries this delivery after "
            f"{config.pair_retry_seconds:g} s, other recipients go on.",
            retry_after_seconds=config.pair_retry_seconds,
            **facts,
        )
    if code == WINDOW_CLOSED:
        return PermanentDeliveryError(
            "WhatsApp: more than 24 hours passed since the recipient last wrote, so free text is refused. Send "
            "a template: set the target's config.template (or the content's metadata.whatsappTemplate) to an "
            "approved template, then retry the failed jobs.",
            **facts,
        )
    if code in UNREACHABLE_CODES:
        return RecipientUnreachableError(
            f"WhatsApp cannot reach this recipient ({UNREACHABLE_CODES[code]}); do not retry: fix or remove "
            "their whatsapp address.",
            **facts,
        )
    if code in SYSTEMIC_CODES or (code is not None and 200 <= code <= 299) or answer.status_code == 401:
        reason = SYSTEMIC_CODES.get(code or 0, "permission not granted" if code else said)
        return SystemicDeliveryError(
            f"WhatsApp refused the account ({reason}); fix it in WhatsApp Manager or issue a new system-user "
            "token with whatsapp_business_messaging, and update the target's credentials.",
            **facts,
        )
    if code in TRANSIENT_CODES or (code is None and (answer.status_code >= 500 or answer.status_code == 408)):
        return TransientDeliveryError(
            f"WhatsApp is unavailable ({TRANSIENT_CODES.get(code or 0, said)}); Herald will retry.", **facts
        )
    if code == 131049:
        return PermanentDeliveryError(
            "WhatsApp held the message back to keep this recipient's marketing engagement healthy; wait at least "
            "24 hours before sending them another marketing template.",
            **facts,
        )
    return PermanentDeliveryError(
        f"WhatsApp refused this message ({said}); retrying it will not help: check the template's name, language "
        "and parameters, the media link, or the recipient's number.",
        **facts,
    )


class WhatsAppChannel:
    name: ClassVar[ChannelName] = ChannelName.WHATSAPP
    # Per recipient when the plan names recipients, else to config.to (a target that messages one person).
    addressing: ClassVar[Addressing] = "either"
    description: ClassVar[str] = (
        "WhatsApp Cloud API to each recipient's E.164 number: a template (config.template or "
        "metadata.whatsappTemplate), text up to 4,096 characters, or media by link; the wamid is the receipt and "
        "status webhooks at /inbound/whatsapp/{targetId} move it to delivered, read or failed."
    )
    config_model = WhatsAppConfig
    credentials_model: type[WhatsAppCredentials] | None = WhatsAppCredentials
    limits = ChannelLimits(max_text_chars=MAX_TEXT, max_attachments=1, max_attachment_bytes=100_000_000)

    def validate(
        self, config: dict[str, Any], credentials: dict[str, Any] | None
    ) -> Validated[WhatsAppConfig, WhatsAppCredentials]:
        return validate_provider(WhatsAppConfig, WhatsAppCredentials, config, credentials)

    def render(
        self, content: Content, policy: Policy, target: Target, recipient: RecipientView | None = None
    ) -> ChannelPayload:
        return ChannelPayload(body=render_message(content, policy, target.config, recipient))

    async def send(self, payload: ChannelPayload, target: Target, delivery: DeliveryContext, io: ChannelIO) -> Receipt:
        if target.credentials is None:
            raise SystemicDeliveryError(
                "The WhatsApp target has no access token; update its credentials.", code="NO_CREDENTIALS"
            )
        to = payload.body.get("to")
        if to is None:
            raise PermanentDeliveryError(
                "This WhatsApp delivery has no recipient: deliver to recipients with a whatsapp address, or set the "
                "target's config.to.",
                code="WHATSAPP_NO_RECIPIENT",
            )
        if not isinstance(to, str) or not E164.fullmatch(to):
            raise RecipientUnreachableError(
                f"WhatsApp needs the recipient's number in E.164 form (+ and country code, e.g. +16505551234), not "
                f"{to!r}; without the + Meta would prepend the business number's country code. Fix their whatsapp "
                "address.",
                code="WHATSAPP_BAD_NUMBER",
            )
        body = {**payload.body, "biz_opaque_callback_data": delivery.delivery_id}
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {target.credentials.access_token}"}
        url = f"{target.config.api_base_url}/{target.config.phone_number_id}/messages"
        answer = await io.http.exchange("POST", url, headers=headers, content=json_bytes(body))
        return classify(answer, target.config)


__all__ = ["WhatsAppChannel", "WhatsAppConfig", "WhatsAppCredentials", "classify", "render_message"]
