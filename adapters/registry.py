"""Channel name → channel. Explicit, no discovery; channels hold no state (pools live in ``ChannelIO``)."""

from __future__ import annotations

from typing import Any

from adapters.base import Channel, ChannelName, ConfigError
from adapters.bluesky import BlueskyChannel
from adapters.discord import DiscordChannel
from adapters.email import EmailChannel
from adapters.feed import FeedChannel
from adapters.gdrive import DriveChannel
from adapters.http import HttpChannel
from adapters.mastodon import MastodonChannel
from adapters.slack import SlackChannel
from adapters.stub import StubChannel
from adapters.telegram import TelegramChannel
from adapters.webhook import WebhookChannel
from adapters.whatsapp import WhatsAppChannel

CHANNELS: dict[ChannelName, Channel[Any, Any]] = {
    ChannelName.WEBHOOK: WebhookChannel(),
    ChannelName.HTTP: HttpChannel(),
    ChannelName.STUB: StubChannel(),
    ChannelName.DISCORD: DiscordChannel(),
    ChannelName.TELEGRAM: TelegramChannel(),
    ChannelName.WHATSAPP: WhatsAppChannel(),
    ChannelName.SLACK: SlackChannel(),
    ChannelName.MASTODON: MastodonChannel(),
    ChannelName.BLUESKY: BlueskyChannel(),
    ChannelName.GDRIVE: DriveChannel(),
    ChannelName.FEED: FeedChannel(),
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
