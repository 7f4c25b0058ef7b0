"""``list_channels``: each registered channel with its addressing, config and credentials schemas and limits."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session

from adapters import CHANNELS, Channel
from server.channels.schemas import ChannelLimitsRead, ChannelList, ChannelRead, ListChannelsInput
from server.context import OpContext
from server.hints import hint


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema as users write the object: camelCase keys, validation-side, without the
    field titles pydantic derives from Python names (``Allowredirects``)."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    for part in (schema, *schema.get("$defs", {}).values()):
        for prop in part.get("properties", {}).values():
            prop.pop("title", None)
    return schema


def channel_read(channel: Channel[Any, Any]) -> ChannelRead:
    credentials = channel.credentials_model
    return ChannelRead(
        name=channel.name,
        addressing=channel.addressing,
        description=channel.description,
        config_schema=json_schema(channel.config_model),
        credentials_schema=json_schema(credentials) if credentials is not None else None,
        limits=ChannelLimitsRead(**asdict(channel.limits)),
    )


def list_channels(ctx: OpContext, session: Session, data: ListChannelsInput) -> ChannelList:
    items = [channel_read(channel) for channel in CHANNELS.values()]
    return ChannelList(
        items=items,
        recommended_next_action=hint(
            "create_distribution_target",
            "Pick a channel and preview a target whose config and credentials follow its schemas: a dry run "
            "validates them and stores nothing (this one is a stub, which reaches no receiver).",
            name="my-first-target",
            channel="stub",
            config={},
            dryRun=True,
        ),
    )
