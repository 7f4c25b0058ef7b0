"""Channel name → channel. Explicit, no discovery; channels hold no state (pools live in ``ChannelIO``)."""

from __future__ import annotations

from typing import Any

from adapters.base import Channel, ChannelName, ConfigError
from adapters.email import EmailChannel
from adapters.http import HttpChannel
from adapters.stub import StubChannel
from adapters.webhook import WebhookChannel

CHANNELS: dict[ChannelName, Channel[Any, Any]] = {
    ChannelName.WEBHOOK: WebhookChannel(),
    ChannelName.HTTP: HttpChannel(),
    ChannelName.STUB: StubChannel(),
    ChannelName.EMAIL: EmailChannel(),
}


def get_channel(channel: str) -> Channel[Any, Any]:
    try:
        return CHANNELS[ChannelName(channel)]
    except ValueError:
        available = ", ".join(name.value for name in CHANNELS)
        raise ConfigError(
            f"Unknown channel {channel!r}; the available channels are {available}.",
            field="channel",
            code="UNKNOWN_CHANNEL",
        ) from None
