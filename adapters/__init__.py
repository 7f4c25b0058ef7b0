"""Channels behind one contract (``adapters.base.Channel``), in an explicit registry.

base.py / errors.py / io.py   the contract, its value types, classified errors, ChannelIO
registry.py                   channel name → channel
webhook.py, http.py, stub.py  the channels (feed.py: the feed Herald serves, its store in server.feeds)
render.py, templates.py       what channels share to render content; signing.py: Standard Webhooks
http_client/                  the hardened outbound HTTP client (ChannelIO.http) and its pieces
"""

from adapters.base import (
    Attachment,
    Channel,
    ChannelIO,
    ChannelLimits,
    ChannelName,
    ChannelPayload,
    ConfigError,
    Content,
    DeliveryContext,
    DeliveryError,
    Endpoint,
    ErrorClass,
    HttpAnswer,
    HttpResponse,
    PermanentDeliveryError,
    Policy,
    RateLimitedError,
    Receipt,
    RecipientUnreachableError,
    RecipientView,
    Reconciles,
    RotatesSecret,
    SystemicDeliveryError,
    TargetView,
    TransientDeliveryError,
    Validated,
)
from adapters.http import HttpChannel
from adapters.registry import CHANNELS, get_channel
from adapters.stub import StubChannel
from adapters.webhook import WebhookChannel

__all__ = [
    "Attachment",
    "HttpAnswer",
    "RecipientUnreachableError",
    "RecipientView",
    "Reconciles",
    "CHANNELS",
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
    "HttpChannel",
    "HttpResponse",
    "PermanentDeliveryError",
    "Policy",
    "RateLimitedError",
    "Receipt",
    "RotatesSecret",
    "StubChannel",
    "SystemicDeliveryError",
    "TargetView",
    "TransientDeliveryError",
    "Validated",
    "WebhookChannel",
    "get_channel",
]
