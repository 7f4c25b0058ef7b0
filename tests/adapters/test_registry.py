"""The registry: an explicit enum-keyed dict, and a clear error for unknown channels."""

from __future__ import annotations

import pytest

from adapters import (
    CHANNELS,
    ChannelLimits,
    ChannelName,
    ConfigError,
    HttpChannel,
    RotatesSecret,
    StubChannel,
    WebhookChannel,
    get_channel,
)
from adapters.base import Reconciles
from adapters.bluesky import BlueskyChannel
from adapters.discord import DiscordChannel
from adapters.email import EmailChannel
from adapters.feed import FeedChannel
from adapters.gdrive import DriveChannel
from adapters.mastodon import MastodonChannel
from adapters.slack import SlackChannel
from adapters.telegram import TelegramChannel
from adapters.whatsapp import WhatsAppChannel


def test_every_channel_has_its_channel() -> None:
    assert {name: type(channel) for name, channel in CHANNELS.items()} == {
        ChannelName.WEBHOOK: WebhookChannel,
        ChannelName.HTTP: HttpChannel,
        ChannelName.STUB: StubChannel,
        ChannelName.DISCORD: DiscordChannel,
        ChannelName.TELEGRAM: TelegramChannel,
        ChannelName.WHATSAPP: WhatsAppChannel,
        ChannelName.SLACK: SlackChannel,
        ChannelName.MASTODON: MastodonChannel,
        ChannelName.BLUESKY: BlueskyChannel,
        ChannelName.GDRIVE: DriveChannel,
        ChannelName.FEED: FeedChannel,
        ChannelName.EMAIL: EmailChannel,
    }
    assert all(channel.name is name for name, channel in CHANNELS.items())
    assert {name: (channel.addressing, channel.limits) for name, channel in CHANNELS.items()} == {
        ChannelName.WEBHOOK: ("broadcast", ChannelLimits()),
        ChannelName.HTTP: ("broadcast", ChannelLimits()),
        ChannelName.STUB: ("either", ChannelLimits()),  # per recipient when a plan names recipients
        ChannelName.DISCORD: ("broadcast", DiscordChannel.limits),
        # per recipient when a plan names recipients, else config.chatId / config.to
        ChannelName.TELEGRAM: ("either", TelegramChannel.limits),
        ChannelName.WHATSAPP: ("either", WhatsAppChannel.limits),
        ChannelName.SLACK: ("broadcast", ChannelLimits(max_text_chars=40_000)),
        ChannelName.MASTODON: ("broadcast", ChannelLimits(max_text_chars=500)),
        ChannelName.BLUESKY: ("broadcast", ChannelLimits(max_text_chars=300)),
        ChannelName.GDRIVE: ("broadcast", ChannelLimits(max_body_bytes=5 * 1024 * 1024)),
        ChannelName.FEED: ("broadcast", ChannelLimits(max_text_chars=200_000)),
        ChannelName.EMAIL: (
            "recipient",
            ChannelLimits(max_body_bytes=25 * 2**20, max_attachments=20, max_attachment_bytes=10 * 2**20),
        ),
    }


def test_optional_abilities_are_protocols_checked_at_runtime() -> None:
    assert [name for name, channel in CHANNELS.items() if isinstance(channel, RotatesSecret)] == [ChannelName.WEBHOOK]
    assert [name for name, channel in CHANNELS.items() if isinstance(channel, Reconciles)] == [
        ChannelName.SLACK,
        ChannelName.BLUESKY,
        ChannelName.GDRIVE,
    ]


@pytest.mark.parametrize("name", ["webhook", "http", "stub", "feed"])
def test_get_channel_by_name(name: str) -> None:
    assert get_channel(name) is CHANNELS[ChannelName(name)]


@pytest.mark.parametrize("name", ["fax", "", "WEBHOOK"])
def test_unknown_channels_list_the_available_ones(name: str) -> None:
    with pytest.raises(ConfigError) as err:
        get_channel(name)
    assert (err.value.code, err.value.field) == ("UNKNOWN_CHANNEL", "channel")
    available = "webhook, http, stub, discord, telegram, whatsapp, slack, mastodon, bluesky, gdrive, feed, email"
    assert err.value.message == f"Unknown channel {name!r}; the available channels are {available}."


def test_channels_describe_themselves() -> None:
    for channel in CHANNELS.values():
        assert channel.description and channel.config_model.model_config["extra"] == "forbid"
