"""Channel name → adapter. Explicit, no discovery."""

from __future__ import annotations

from adapters.base import ChannelAdapter, ChannelName, ConfigError
from adapters.http import HttpAdapter
from adapters.stub import StubAdapter
from adapters.webhook import WebhookAdapter

ADAPTERS: dict[ChannelName, ChannelAdapter] = {
    ChannelName.WEBHOOK: WebhookAdapter(),
    ChannelName.HTTP: HttpAdapter(),
    ChannelName.STUB: StubAdapter(),
}


def get_adapter(channel: str) -> ChannelAdapter:
    try:
        return ADAPTERS[ChannelName(channel)]
    except ValueError:
        available = ", ".join(name.value for name in ADAPTERS)
        raise ConfigError(
            f"Unknown channel {channel!r}; the available channels are {available}.",
            field="channel",
            code="UNKNOWN_CHANNEL",
        ) from None
