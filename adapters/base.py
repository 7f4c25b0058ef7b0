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
    SystemicDeliveryError,
    TransientDeliveryError,
)
from adapters.io import ChannelIO, HttpClient, HttpResponse

C = TypeVar("C", bound=BaseModel)
K = TypeVar("K", bound=BaseModel)
Addressing = Literal["broadcast", "recipient"]


class ChannelName(StrEnum):
    WEBHOOK = "webhook"
    HTTP = "http"
    STUB = "stub"


class Content(BaseModel):
    """The content item being distributed, as the channels see it."""

    model_config = ConfigDict(frozen=True)

    id: str
    version: str
    title: str
    body: str
    excerpt: str | None = None
    url: str | None = None
    metadata: dict[str, Any] = {}


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


@dataclass(frozen=True)
class TargetView(Generic[C, K]):
    """What a channel may know of a target: validated config and decrypted credentials."""

    id: str
    name: str
    channel: str
    config: C
    credentials: K | None


@dataclass(frozen=True)
class DeliveryContext:
    """Identity of one delivery. ``delivery_id`` is stable across retries of a job."""

    delivery_id: str
    attempt: int
    plan_id: str
    timestamp: datetime


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
        self, content: Content, policy: Policy, target: TargetView[C, K], recipient: str | None = None
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


__all__ = [
    "Addressing",
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
    "HttpClient",
    "HttpResponse",
    "PermanentDeliveryError",
    "Policy",
    "RateLimitedError",
    "Receipt",
    "RotatesSecret",
    "SystemicDeliveryError",
    "TargetView",
    "TransientDeliveryError",
    "Validated",
]
