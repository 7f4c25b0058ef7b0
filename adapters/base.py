"""The channel adapter contract and the value types shared with the delivery engine.

Adapters import nothing from ``server``: these types are the whole vocabulary.

Error tree (raised by ``deliver`` and ``deliver_async``; the engine, not the adapter, decides what follows)::

    DeliveryError                 class_ = transient | rate_limited | permanent | systemic
    ├── TransientDeliveryError    timeouts, connection errors, 5xx, 408: retry with backoff
    ├── RateLimitedError          429 and providers' own signals: pause the target
    ├── PermanentDeliveryError    other 4xx, invalid payload or recipient: fail now
    └── SystemicDeliveryError     401/403, TLS/DNS failure of the whole target

``ConfigError`` is raised by ``validate_config`` for a target that can never work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict


class ErrorClass(StrEnum):
    TRANSIENT = "transient"
    RATE_LIMITED = "rate_limited"
    PERMANENT = "permanent"
    SYSTEMIC = "systemic"


class ChannelName(StrEnum):
    WEBHOOK = "webhook"
    HTTP = "http"
    STUB = "stub"


class Content(BaseModel):
    """The content item being distributed, as the adapters see it."""

    model_config = ConfigDict(frozen=True)

    id: str
    version: str
    title: str
    body: str
    excerpt: str | None = None
    url: str | None = None
    metadata: dict[str, Any] = {}


class Policy(BaseModel):
    """Content policy: ``transform`` applies the text rules; the engine enforces ``allowed_channels``."""

    model_config = ConfigDict(frozen=True)

    excerpt_only: bool = False
    max_length: int | None = None
    truncate: Literal["ellipsis", "word", "hard"] = "ellipsis"
    allowed_channels: tuple[str, ...] | None = None
    attribution: str | None = None


@dataclass(frozen=True)
class TargetView:
    """What an adapter may know of a target: validated config and decrypted credentials."""

    id: str
    name: str
    channel: str
    config: BaseModel
    credentials: BaseModel | None


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
class DeliveryOutcome:
    """A successful delivery's raw result."""

    status_code: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body_excerpt: str | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class Receipt:
    external_id: str | None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ValidatedTarget:
    """Result of ``validate_config``.

    ``credentials`` is what gets encrypted and stored. ``revealed`` holds values Herald
    generated (e.g. a signing secret) that the create result shows exactly once.
    """

    config: BaseModel
    credentials: BaseModel | None
    revealed: dict[str, str] = field(default_factory=dict)


class ConfigError(Exception):
    """A target's config or credentials are invalid; ``field`` names the culprit."""

    def __init__(self, message: str, field: str | None = None, code: str = "VALIDATION_ERROR") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


class DeliveryError(Exception):
    class_: ClassVar[ErrorClass] = ErrorClass.TRANSIENT

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after_seconds: float | None = None,
        code: str | None = None,
        response_excerpt: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.retry_after_seconds = retry_after_seconds
        self.code = code
        self.response_excerpt = response_excerpt

    @property
    def error_class(self) -> ErrorClass:
        return self.class_


class TransientDeliveryError(DeliveryError):
    class_ = ErrorClass.TRANSIENT


class RateLimitedError(DeliveryError):
    class_ = ErrorClass.RATE_LIMITED


class PermanentDeliveryError(DeliveryError):
    class_ = ErrorClass.PERMANENT


class SystemicDeliveryError(DeliveryError):
    class_ = ErrorClass.SYSTEMIC


class OutboundClient(Protocol):
    """The hardened HTTP client the engine hands to ``deliver`` (``adapters.transport.OutboundHttpClient``)."""

    def send(
        self, method: str, url: str, *, headers: dict[str, str], content: bytes, allow_redirects: bool = False
    ) -> DeliveryOutcome: ...


class AsyncOutbound(Protocol):
    """The same client for ``deliver_async`` (``adapters.outbound.AsyncOutboundClient``), used from one event loop."""

    async def send(
        self, method: str, url: str, *, headers: dict[str, str], content: bytes, allow_redirects: bool = False
    ) -> DeliveryOutcome: ...


@dataclass(frozen=True)
class OutboundRequest:
    """The one request an HTTP channel makes for a delivery; ``deliver`` and ``deliver_async`` both send it."""

    method: str
    url: str
    headers: dict[str, str]
    content: bytes
    allow_redirects: bool = False

    def send(self, client: OutboundClient) -> DeliveryOutcome:
        return client.send(
            self.method, self.url, headers=self.headers, content=self.content, allow_redirects=self.allow_redirects
        )

    async def send_async(self, client: AsyncOutbound) -> DeliveryOutcome:
        return await client.send(
            self.method, self.url, headers=self.headers, content=self.content, allow_redirects=self.allow_redirects
        )


class RequestChannel:
    """Base of channels that make one HTTP request per delivery: they write ``outbound_request``,
    and get ``deliver`` (sync client) and ``deliver_async`` (the engine's event loop) from it."""

    def outbound_request(
        self, payload: ChannelPayload, target: TargetView, delivery: DeliveryContext
    ) -> OutboundRequest:
        raise NotImplementedError

    def deliver(
        self, payload: ChannelPayload, target: TargetView, client: OutboundClient, delivery: DeliveryContext
    ) -> DeliveryOutcome:
        return self.outbound_request(payload, target, delivery).send(client)

    async def deliver_async(
        self, payload: ChannelPayload, target: TargetView, client: AsyncOutbound, delivery: DeliveryContext
    ) -> DeliveryOutcome:
        return await self.outbound_request(payload, target, delivery).send_async(client)


class ChannelAdapter(Protocol):
    channel: ClassVar[ChannelName]
    config_model: ClassVar[type[BaseModel]]
    credentials_model: ClassVar[type[BaseModel] | None]
    description: ClassVar[str]

    def validate_config(self, config: dict[str, Any], credentials: dict[str, Any] | None) -> ValidatedTarget: ...

    def destination(self, config: BaseModel) -> str | None:
        """The URL this target sends to, for the SSRF check at create time (None: no network)."""
        ...

    def transform(self, content: Content, policy: Policy, target: TargetView) -> ChannelPayload: ...

    def deliver(
        self, payload: ChannelPayload, target: TargetView, client: OutboundClient, delivery: DeliveryContext
    ) -> DeliveryOutcome: ...

    async def deliver_async(
        self, payload: ChannelPayload, target: TargetView, client: AsyncOutbound, delivery: DeliveryContext
    ) -> DeliveryOutcome:
        """``deliver`` for the asyncio hot path: the same request and outcome, without blocking the loop."""
        ...

    def normalize_receipt(self, outcome: DeliveryOutcome, delivery: DeliveryContext) -> Receipt: ...
