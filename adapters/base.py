"""The channel contract and the value types shared with the delivery engine.

Adapters import nothing from ``server``: these types (with ``adapters.errors`` and ``adapters.io``)
are the whole vocabulary. A channel is one class implementing ``Channel``: ``validate`` a target's
config once, ``render`` content into a payload (pure: dry run shows it), ``send`` it with what
``ChannelIO`` provides and return a ``Receipt``, or raise a classified ``DeliveryError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict

from adapters.errors import (
    ConfigError,
    DeliveryError,
    ErrorClass,
    PermanentDeliveryError,
    RateLimitedError,
    RecipientUnreachableError,
    SystemicDeliveryError,
    TransientDeliveryError,
)
from adapters.io import ChannelIO, FeedEntry, FeedStore, FeedUpsert, HttpAnswer, HttpClient, HttpResponse

C = TypeVar("C", bound=BaseModel)
K = TypeVar("K", bound=BaseModel)
# "either" (the stub channel, Telegram): one job per recipient when the plan names recipients, else one per target.
Addressing = Literal["broadcast", "recipient", "either"]


class ChannelName(StrEnum):
    WEBHOOK = "webhook"
    HTTP = "http"
    STUB = "stub"
    DISCORD = "discord"
    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"
    SLACK = "slack"
    MASTODON = "mastodon"
    BLUESKY = "bluesky"
    GDRIVE = "gdrive"
    FEED = "feed"
    EMAIL = "email"


class Attachment(BaseModel):
    """A file sent with the content (email attachment, chat document, Drive upload).

    By the time a channel renders, ``data`` holds the bytes: the server fetched a URL attachment
    through the SSRF guard (size-capped) or decoded the inline base64 before any channel sees it.
    """

    model_config = ConfigDict(frozen=True)

    filename: str
    content_type: str
    data: bytes = b""
    url: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)


class Content(BaseModel):
    """The content item being distributed, as the channels see it (templates already rendered)."""

    model_config = ConfigDict(frozen=True)

    id: str
    version: str
    title: str
    body: str
    excerpt: str | None = None
    url: str | None = None
    metadata: dict[str, Any] = {}
    media_urls: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()


class Policy(BaseModel):
    """Content policy: ``render`` applies the text rules; the engine enforces ``allowed_channels``."""

    model_config = ConfigDict(frozen=True)

    excerpt_only: bool = False
    max_length: int | None = None
    truncate: Literal["ellipsis", "word", "hard"] = "ellipsis"
    allowed_channels: tuple[str, ...] | None = None
    attribution: str | None = None


@dataclass(frozen=True)
class ChannelLimits:
    """What a channel's provider accepts; None when unlimited."""

    max_body_bytes: int | None = None
    max_text_chars: int | None = None
    max_attachments: int | None = None
    max_attachment_bytes: int | None = None


@dataclass(frozen=True)
class TargetView(Generic[C, K]):
    """What a channel may know of a target: validated config and decrypted credentials."""

    id: str
    name: str
    channel: str
    config: C
    credentials: K | None


@dataclass(frozen=True)
class RecipientView:
    """What a channel may know of a recipient reached through an addressed target.

    ``address`` is the recipient's address on this target's channel (an email address, an E.164
    number, a chat id). ``unsubscribe_url`` is set when the recipient was reached through a label
    (a distribution list): channels that can carry it (email's ``List-Unsubscribe``) must.
    """

    id: str
    address: str
    external_id: str | None = None
    name: str | None = None
    timezone: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    unsubscribe_url: str | None = None


@dataclass(frozen=True)
class DeliveryContext:
    """Identity of one delivery. ``delivery_id`` is stable across retries of a job.

    ``previous_outcome_unknown`` is True when the job's last attempt may have reached the provider
    without Herald seeing the answer (a timeout after the request was written): a channel that
    implements ``Reconciles`` is asked to look its post up before sending again.
    """

    delivery_id: str
    attempt: int
    plan_id: str
    timestamp: datetime
    recipient_id: str | None = None
    previous_outcome_unknown: bool = False


@dataclass(frozen=True)
class ChannelPayload:
    """A rendered payload: what the target would receive, shown as-is by dry run."""

    body: Any
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    """A delivery's proof: the provider's id for it, and sanitized facts (e.g. ``statusCode``)."""

    external_id: str | None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Endpoint:
    """A network address a target sends to (``https://…``, later ``smtp://host:port``), checked by the SSRF guard."""

    url: str
    field: str = "config.url"


@dataclass(frozen=True)
class Validated(Generic[C, K]):
    """Result of ``validate``.

    ``credentials`` is what gets encrypted and stored. ``revealed`` holds values Herald generated
    (e.g. a signing secret) that the create result shows exactly once. ``endpoints`` is every address
    the target will reach, which the SSRF guard checks before the target is stored.
    """

    config: C
    credentials: K | None
    revealed: dict[str, str] = field(default_factory=dict)
    endpoints: tuple[Endpoint, ...] = ()


class Channel(Protocol[C, K]):
    name: ClassVar[ChannelName]
    addressing: ClassVar[Addressing]
    description: ClassVar[str]
    config_model: type[C]
    credentials_model: type[K] | None
    limits: ChannelLimits

    def validate(self, config: dict[str, Any], credentials: dict[str, Any] | None) -> Validated[C, K]: ...

    def render(
        self, content: Content, policy: Policy, target: TargetView[C, K], recipient: RecipientView | None = None
    ) -> ChannelPayload:
        """Pure: the same content, policy and target always give the same payload."""
        ...

    async def send(
        self, payload: ChannelPayload, target: TargetView[C, K], delivery: DeliveryContext, io: ChannelIO
    ) -> Receipt:
        """Deliver ``payload``; a failure raises a classified ``DeliveryError``."""
        ...


@runtime_checkable
class RotatesSecret(Protocol):
    """A channel that signs deliveries and can issue a new signing secret."""

    def rotate_secret(
        self, config: Any, credentials: dict[str, Any], overlap_until: datetime
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """New credentials (stored form) and what to reveal; the old secret keeps signing until ``overlap_until``."""
        ...


@runtime_checkable
class Reconciles(Protocol):
    """A channel that can look up whether an earlier attempt of this delivery landed (outcome unknown).

    The engine calls ``reconcile`` instead of sending when ``delivery.previous_outcome_unknown``:
    a ``Receipt`` means the post exists (the job is delivered, nothing is sent again); None means
    it does not, and the engine sends.
    """

    async def reconcile(
        self, payload: ChannelPayload, target: TargetView[Any, Any], delivery: DeliveryContext, io: ChannelIO
    ) -> Receipt | None: ...


__all__ = [
    "Addressing",
    "Attachment",
    "Channel",
    "ChannelIO",
    "ChannelLimits",
    "ChannelName",
    "ChannelPayload",
    "ConfigError",
    "Content",
    "DeliveryContext",
    "DeliveryError",
    "Endpoint",
    "ErrorClass",
    "FeedEntry",
    "FeedStore",
    "FeedUpsert",
    "HttpAnswer",
    "HttpClient",
    "HttpResponse",
    "PermanentDeliveryError",
    "Policy",
    "RateLimitedError",
    "Receipt",
    "RecipientUnreachableError",
    "RecipientView",
    "Reconciles",
    "RotatesSecret",
    "SystemicDeliveryError",
    "TargetView",
    "TransientDeliveryError",
    "Validated",
]
