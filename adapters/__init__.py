"""Channel adapters behind one interface (see ``adapters.base``), in an explicit registry."""

from adapters.base import (
    AsyncOutbound,
    ChannelAdapter,
    ChannelName,
    ChannelPayload,
    ConfigError,
    Content,
    DeliveryContext,
    DeliveryError,
    DeliveryOutcome,
    OutboundClient,
    OutboundRequest,
    PermanentDeliveryError,
    Policy,
    RateLimitedError,
    Receipt,
    SystemicDeliveryError,
    TargetView,
    TransientDeliveryError,
    ValidatedTarget,
)
from adapters.classify import classify_response, parse_retry_after
from adapters.http import HttpAdapter
from adapters.netguard import check_url
from adapters.outbound import AsyncOutboundClient
from adapters.registry import ADAPTERS, get_adapter
from adapters.stub import StubAdapter
from adapters.transport import OutboundHttpClient
from adapters.webhook import WebhookAdapter

__all__ = [
    "ADAPTERS",
    "AsyncOutbound",
    "AsyncOutboundClient",
    "ChannelAdapter",
    "ChannelName",
    "ChannelPayload",
    "ConfigError",
    "Content",
    "DeliveryContext",
    "DeliveryError",
    "DeliveryOutcome",
    "HttpAdapter",
    "OutboundClient",
    "OutboundHttpClient",
    "OutboundRequest",
    "PermanentDeliveryError",
    "Policy",
    "RateLimitedError",
    "Receipt",
    "StubAdapter",
    "SystemicDeliveryError",
    "TargetView",
    "TransientDeliveryError",
    "ValidatedTarget",
    "WebhookAdapter",
    "check_url",
    "classify_response",
    "get_adapter",
    "parse_retry_after",
]
