"""Email over SMTP: one message per delivery (one per recipient on an addressed plan), sent through ``io.smtp``.

``render`` builds the MIME message (pure, dry run shows it): ``multipart/alternative`` of the text
body and its Markdown rendered to HTML, inside ``multipart/mixed`` when there are attachments;
``From``/``Reply-To`` from the config, ``To`` the recipient (or ``config.to`` for a delivery without
one: a broadcast plan, a target test), and ``List-Unsubscribe`` with ``List-Unsubscribe-Post``
(RFC 8058) when the recipient came through a label. ``send`` adds ``Message-ID`` (from the delivery
id: stable across retries, unique per job; it is the receipt) and ``Date``, then submits it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from functools import lru_cache
from html import escape
from typing import Annotated, Any, ClassVar, Literal

from markdown_it import MarkdownIt
from pydantic import AfterValidator, Field, field_validator, model_validator

from adapters.base import (
    Addressing,
    Attachment,
    ChannelIO,
    ChannelLimits,
    ChannelName,
    ChannelPayload,
    ConfigError,
    Content,
    DeliveryContext,
    Endpoint,
    PermanentDeliveryError,
    Policy,
    Receipt,
    RecipientUnreachableError,
    RecipientView,
    TargetView,
    Validated,
)
from adapters.io import SmtpServer
from adapters.render import ChannelModel, apply_policy, validate_model
from adapters.smtp_client.classify import excerpt

Security = Literal["starttls", "tls", "none"]
DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "tls": 465, "none": 25}
MAX_ATTACHMENTS = 20
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_MESSAGE_BYTES = 25 * 1024 * 1024
MAX_BROADCAST_RECIPIENTS = 50
ONE_CLICK = "List-Unsubscribe=One-Click"
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def email_address(value: str) -> str:
    """``local@domain`` with an ASCII local part and the domain in IDNA, or a ValueError saying what to fix."""
    text = value.strip()
    local, _, domain = text.rpartition("@")
    try:
        domain = domain if domain.isascii() else domain.encode("idna").decode("ascii")
    except UnicodeError:
        domain = ""
    if len(text) > 254 or not _LOCAL_PART.fullmatch(local) or not _DOMAIN.fullmatch(domain):
        raise ValueError(f"{text[:80]!r} is not an email address such as reports@example.com")
    return f"{local}@{domain.rstrip('.').lower()}"


def _one_line(value: str | None, limit: int = 200) -> str | None:
    if value is not None and ("\r" in value or "\n" in value or len(value) > limit):
        raise ValueError(f"must be one line of at most {limit} characters")
    return value


def _host(value: str) -> str:
    host = value.strip().removeprefix("[").removesuffix("]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        ascii_host = host if host.isascii() else host.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_host = ""
    if not _DOMAIN.fullmatch(ascii_host):
        raise ValueError("must be a host name or IP address such as smtp.example.com, without scheme or port")
    return ascii_host.rstrip(".").lower()


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


EmailAddress = Annotated[str, AfterValidator(email_address)]


class EmailConfig(ChannelModel):
    host: str = Field(description="SMTP server host name or IP, e.g. smtp.example.com (no scheme, no port).")
    port: int | None = Field(default=None, ge=1, le=65535, description="Default 587 (starttls), 465 (tls), 25 (none).")
    security: Security = Field(
        default="starttls", description="starttls, tls (implicit TLS) or none (no TLS: loopback hosts only)."
    )
    from_address: EmailAddress = Field(description="The sender: From and MAIL FROM, e.g. reports@example.com.")
    from_name: str | None = Field(default=None, description="Display name in From.")
    reply_to: EmailAddress | None = Field(default=None, description="Reply-To address.")
    subject_prefix: str | None = Field(default=None, description="Put before every subject, e.g. [Reports].")
    timeout_seconds: float = Field(default=30.0, ge=0.1, le=300, description="Per SMTP command, in seconds.")
    to: list[EmailAddress] = Field(
        default_factory=list,
        max_length=MAX_BROADCAST_RECIPIENTS,
        description="Addresses for a delivery without a recipient (a target test).",
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return _host(value)

    @field_validator("from_name", "subject_prefix")
    @classmethod
    def _line(cls, value: str | None) -> str | None:
        return _one_line(value)

    @model_validator(mode="after")
    def _port(self) -> EmailConfig:
        if self.port is None:
            self.port = DEFAULT_PORTS[self.security]
        return self

    @property
    def server_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.security]

    @property
    def domain(self) -> str:
        return self.from_address.rpartition("@")[2]


class EmailCredentials(ChannelModel):
    username: str = Field(min_length=1, max_length=512, description="SMTP AUTH user name.")
    password: str = Field(min_length=1, max_length=1024, description="SMTP AUTH password (stored encrypted).")


Target = TargetView[EmailConfig, EmailCredentials]


class EmailChannel:
    name: ClassVar[ChannelName] = ChannelName.EMAIL
    addressing: ClassVar[Addressing] = "recipient"
    description: ClassVar[str] = (
        "Email over SMTP (STARTTLS or implicit TLS): text and Markdown-rendered HTML, attachments, "
        "List-Unsubscribe for distribution lists; the receipt is the Message-ID."
    )
    config_model = EmailConfig
    credentials_model: type[EmailCredentials] | None = EmailCredentials
    limits = ChannelLimits(
        max_body_bytes=MAX_MESSAGE_BYTES, max_attachments=MAX_ATTACHMENTS, max_attachment_bytes=MAX_ATTACHMENT_BYTES
    )

    def validate(
        self, config: dict[str, Any], credentials: dict[str, Any] | None
    ) -> Validated[EmailConfig, EmailCredentials]:
        validated = validate_model(EmailConfig, config, "config")
        if validated.security == "none" and not is_loopback_host(validated.host):
            raise ConfigError(
                "config.security: 'none' sends mail and credentials unencrypted, so it is only allowed to a "
                "loopback host (localhost, 127.0.0.1, ::1); use starttls (port 587) or tls (port 465).",
                field="config.security",
            )
        checked = validate_model(EmailCredentials, credentials, "credentials") if credentials else None
        host = f"[{validated.host}]" if ":" in validated.host else validated.host
        endpoint = Endpoint(f"smtp://{host}:{validated.server_port}", field="config.host")
        return Validated(validated, checked, endpoints=(endpoint,))

    def render(
        self, content: Content, policy: Policy, target: Target, recipient: RecipientView | None = None
    ) -> ChannelPayload:
        config = target.config
        to = _to(config, recipient)
        text = _text(content, policy)
        subject = _subject(config, content)
        html = _html(text, subject)
        message = _headers(config, to, subject, recipient)
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        for attachment in _checked_attachments(content.attachments):
            maintype, subtype = _mime_type(attachment.content_type)
            message.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=_filename(attachment))
        _set_boundaries(message, text, html, content.attachments)
        mime = message.as_bytes(policy=SMTP)
        if len(mime) > MAX_MESSAGE_BYTES:
            raise PermanentDeliveryError(
                f"The message is {len(mime)} bytes encoded; email allows at most {MAX_MESSAGE_BYTES}. "
                "Send fewer or smaller attachments, or link to them.",
                code="MESSAGE_TOO_LARGE",
            )
        body = {
            "headers": {name: str(value) for name, value in message.items() if name != "Content-Transfer-Encoding"},
            "messageId": f"<(the delivery id)@{config.domain}>, set when sent",
            "envelope": {"from": config.from_address, "to": [address.addr_spec for address in to]},
            "text": text,
            "html": html,
            "attachments": [
                {"filename": _filename(a), "contentType": a.content_type, "sizeBytes": a.size}
                for a in content.attachments
            ],
            "sizeBytes": len(mime),
        }
        meta = {"mime": mime, "recipients": tuple(address.addr_spec for address in to)}
        return ChannelPayload(body=body, content_type="message/rfc822", meta=meta)

    async def send(self, payload: ChannelPayload, target: Target, delivery: DeliveryContext, io: ChannelIO) -> Receipt:
        if io.smtp is None:
            raise RuntimeError("This ChannelIO has no SMTP client; build it with smtp=SmtpPool(...).")
        config, credentials = target.config, target.credentials
        message_id = f"<{delivery.delivery_id}@{config.domain}>"
        head = f"Message-ID: {message_id}\r\nDate: {format_datetime(_aware(delivery))}\r\n".encode("ascii")
        server = SmtpServer(
            host=config.host,
            port=config.server_port,
            security=config.security,
            username=credentials.username if credentials else None,
            password=credentials.password if credentials else None,
            timeout_seconds=config.timeout_seconds,
            local_hostname=config.domain,
        )
        answer = await io.smtp.send(
            server, config.from_address, payload.meta["recipients"], head + payload.meta["mime"]
        )
        meta: dict[str, Any] = {
            "statusCode": answer.code,
            "smtpResponse": excerpt(answer.message),
            "accepted": list(answer.accepted),
        }
        if answer.refused:
            meta["refused"] = {address: code for address, (code, _) in answer.refused.items()}
        return Receipt(external_id=message_id, meta=meta)


def _aware(delivery: DeliveryContext) -> datetime:
    moment = delivery.timestamp
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _to(config: EmailConfig, recipient: RecipientView | None) -> list[Address]:
    if recipient is None:
        if not config.to:
            raise PermanentDeliveryError(
                "This email has no recipient: address the plan to recipients (recipientIds or recipientLabels), "
                "or set the target's config.to for deliveries without one.",
                code="NO_RECIPIENT",
            )
        return [Address(addr_spec=address) for address in config.to]
    try:
        address = email_address(recipient.address)
    except ValueError as exc:
        raise RecipientUnreachableError(
            f"The recipient's email {exc}; fix the recipient's address.", code="INVALID_ADDRESS"
        ) from None
    return [Address(display_name=_display_name(recipient.name), addr_spec=address)]


def _display_name(name: str | None) -> str:
    return " ".join((name or "").split())[:200]


def _headers(config: EmailConfig, to: list[Address], subject: str, recipient: RecipientView | None) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = Address(display_name=config.from_name or "", addr_spec=config.from_address)
    message["To"] = to
    if config.reply_to:
        message["Reply-To"] = Address(addr_spec=config.reply_to)
    if recipient is not None and recipient.unsubscribe_url:
        message["List-Unsubscribe"] = f"<{recipient.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = ONE_CLICK
    return message


def _subject(config: EmailConfig, content: Content) -> str:
    title = " ".join(content.title.split())
    return f"{config.subject_prefix} {title}" if config.subject_prefix else title


def _text(content: Content, policy: Policy) -> str:
    text = apply_policy(content, policy)
    return f"{text}\n\n{content.url}" if content.url and content.url not in text else text


@lru_cache(maxsize=64)  # the same body to many recipients renders its Markdown once
def _html(text: str, subject: str) -> str:
    """The Markdown body as an HTML document (raw HTML in the body is escaped, not passed through)."""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>'
        f"{escape(subject)}</title></head>\n<body>\n{_MARKDOWN.render(text)}</body></html>\n"
    )


def _set_boundaries(message: EmailMessage, text: str, html: str, attachments: tuple[Attachment, ...]) -> None:
    """Boundaries from a digest of what the parts hold, not random ones: render stays pure (and a digest of
    the content cannot occur inside it)."""
    digest = hashlib.sha256(text.encode())
    digest.update(html.encode())
    for attachment in attachments:
        digest.update(f"\0{attachment.filename}\0{attachment.content_type}\0".encode())
        digest.update(attachment.data)
    for index, part in enumerate(p for p in message.walk() if p.is_multipart()):
        part.set_boundary(f"herald-{digest.hexdigest()[:32]}-{index}")


def _checked_attachments(attachments: tuple[Attachment, ...]) -> tuple[Attachment, ...]:
    if len(attachments) > MAX_ATTACHMENTS:
        raise PermanentDeliveryError(
            f"The content has {len(attachments)} attachments; email allows at most {MAX_ATTACHMENTS}.",
            code="TOO_MANY_ATTACHMENTS",
        )
    for attachment in attachments:
        if attachment.size > MAX_ATTACHMENT_BYTES:
            raise PermanentDeliveryError(
                f"Attachment {_filename(attachment)!r} is {attachment.size} bytes; email allows at most "
                f"{MAX_ATTACHMENT_BYTES} per attachment. Link to it instead.",
                code="ATTACHMENT_TOO_LARGE",
            )
    return attachments


def _mime_type(content_type: str) -> tuple[str, str]:
    maintype, _, subtype = content_type.split(";")[0].strip().lower().partition("/")
    valid = re.fullmatch(r"[a-z0-9][a-z0-9!#$&^_.+-]*", maintype) and re.fullmatch(
        r"[a-z0-9][a-z0-9!#$&^_.+-]*", subtype
    )
    return (maintype, subtype) if valid and maintype != "multipart" else ("application", "octet-stream")


def _filename(attachment: Attachment) -> str:
    name = re.sub(r"[\x00-\x1f\x7f/\\]", "_", attachment.filename).strip()
    return name[:200] or "attachment"


__all__ = ["EmailChannel", "EmailConfig", "EmailCredentials", "email_address"]
