"""Data models of ``list_channels``: what an agent needs to build a valid target without docs."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from adapters.base import ChannelName
from server.hints import NextAction
from server.wire import WireModel


class ListChannelsInput(WireModel):
    pass


class ChannelLimitsRead(WireModel):
    max_body_bytes: int | None = Field(description="Largest payload the provider accepts, in bytes; null: no limit.")
    max_text_chars: int | None = Field(description="Longest text the provider accepts; null: no limit.")
    max_attachments: int | None = Field(description="Most attachments per delivery; null: no limit.")
    max_attachment_bytes: int | None = Field(description="Largest attachment, in bytes; null: no limit.")


class ChannelRead(WireModel):
    name: ChannelName = Field(description="Pass as `channel` to create_distribution_target.")
    addressing: str = Field(
        description="broadcast: one job per target; recipient: one job per (target, recipient) of the plan."
    )
    description: str
    config_schema: dict[str, Any] = Field(description="JSON Schema of `config` (camelCase keys, unknown keys refused).")
    credentials_schema: dict[str, Any] | None = Field(
        description="JSON Schema of `credentials` (write-only, stored encrypted); null: the channel takes none."
    )
    limits: ChannelLimitsRead


class ChannelList(WireModel):
    items: list[ChannelRead]
    next_cursor: str | None = Field(None, description="Always null: every channel is on one page.")
    recommended_next_action: NextAction
