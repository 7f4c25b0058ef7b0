"""Channel adapters behind one interface (see ``adapters.base``), in an explicit registry."""

from adapters.base import (
    ChannelAdapter,
    ChannelName,
    ChannelPayload,
    ConfigError,
    Content,
    DeliveryContext,
    DeliveryError,
    DeliveryOutcome,
    Policy,
    Receipt,
    TargetView,
    ValidatedTarget,
)
from adapters.netguard import check_url
from adapters.registry import ADAPTERS, get_adapter

__all__ = [
    "ADAPTERS",
    "ChannelAdapter",
    "ChannelName",
    "ChannelPayload",
    "ConfigError",
    "Content",
    "DeliveryContext",
    "DeliveryError",
    "DeliveryOutcome",
    "Policy",
    "Receipt",
    "TargetView",
    "ValidatedTarget",
    "check_url",
    "get_adapter",
]
