"""Data models of the recipient operations."""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from pydantic import Field, field_validator, model_validator

from adapters.base import ChannelName
from server.common import CURSOR, LIMIT, MutationInput, MutationResult
from server.hints import NextAction
from server.wire import Id, Key, Label, WireModel

MAX_UPSERT = 10_000
ALL_CHANNELS = "*"  # stored in ``unsubscribed``: unsubscribed from every channel

_CHANNEL_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_EMAIL = re.compile(
    r"^[^@\s<>()\[\],;:\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_TELEGRAM = re.compile(r"^(?:-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_address(channel: str, address: str) -> str:
    """The address, trimmed, or a ValueError saying what a valid one looks like."""
    value = address.strip()
    if not _CHANNEL_KEY.match(channel):
        raise ValueError(f"address key {channel!r} is not a channel name (lower-case letters, digits, _)")
    if not value or len(value) > 500:
        raise ValueError(f"the {channel} address must be 1-500 characters")
    if channel == "email" and not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an email address (name@example.com)")
    if channel == "whatsapp" and not _E164.match(value):
        raise ValueError(f"{value!r} is not an E.164 number: '+', country code and number, digits only (+919812345678)")
    if channel == "telegram" and not _TELEGRAM.match(value):
        raise ValueError(
            f"{value!r} is not a Telegram chat id (a number such as 123456789 or -1001234567890, or @name)"
        )
    return value


class RecipientInput(WireModel):
    external_id: str = Field(
        min_length=1,
        max_length=200,
        description="Your key for this recipient (e.g. an advisor ARN); upserts match on it.",
    )
    name: str | None = Field(None, max_length=200)
    addresses: dict[str, str] = Field(
        default_factory=dict,
        description="Address per channel: email (name@example.com), whatsapp (E.164, +919812345678), "
        "telegram (chat id), any other channel name (free text).",
    )
    attributes: dict[str, Any] = Field(default_factory=dict, description="Free JSON, usable in templates.")
    timezone: str | None = Field(None, max_length=64, description="IANA time zone, e.g. Asia/Kolkata.")
    labels: list[Label] = Field(default_factory=list, max_length=50, description="Distribution lists it belongs to.")
    active: bool = Field(True, description="Inactive recipients are skipped by plans.")

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 20:
            raise ValueError("at most 20 addresses")
        return {channel: check_address(channel, address) for channel, address in value.items()}

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None and value not in _zones():
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Asia/Kolkata, Europe/Paris, UTC)")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: list[str]) -> list[str]:
        for label in value:
            if not _LABEL.match(label):
                raise ValueError(
                    f"label {label!r} is invalid: 1-64 letters, digits or -_.:/ starting with one of the first two"
                )
        return sorted(set(value))


class UpsertRecipientsInput(MutationInput):
    recipients: list[RecipientInput] = Field(
        min_length=1, max_length=MAX_UPSERT, description="Up to 10,000 recipients, matched on externalId."
    )

    @model_validator(mode="after")
    def _unique(self) -> UpsertRecipientsInput:
        seen: dict[str, int] = {}
        for index, recipient in enumerate(self.recipients):
            if recipient.external_id in seen:
                raise ValueError(
                    f"externalId {recipient.external_id!r} appears twice (recipients[{seen[recipient.external_id]}] "
                    f"and recipients[{index}]); send each recipient once"
                )
            seen[recipient.external_id] = index
        return self


class RecipientRef(WireModel):
    id: Id | None = Field(description="The recipient's id (rcp_…); null in a dry run for one not created yet.")
    external_id: str
    created: bool


class UpsertRecipientsPayload(MutationResult):
    created: int
    updated: int
    recipients: list[RecipientRef] = Field(description="Each recipient of the request, in request order.")


class RecipientRead(WireModel):
    id: Id
    external_id: str | None
    name: str | None
    addresses: dict[str, str]
    attributes: dict[str, Any]
    timezone: str | None
    labels: list[str]
    active: bool
    unsubscribed: list[str] = Field(description="Channels it unsubscribed from; '*' means every channel.")
    bounced_at: dict[str, datetime] = Field(description="Channel -> when its address there hard-bounced.")
    created_at: datetime
    updated_at: datetime


class RecipientDetailResult(WireModel):
    recipient: RecipientRead
    recommended_next_action: NextAction


class GetRecipientInput(WireModel):
    id: Id | None = Field(None, description="Recipient id (rcp_…).")
    external_id: str | None = Field(None, max_length=200, description="Or its externalId.")


class ListRecipientsInput(WireModel):
    limit: int = LIMIT
    cursor: str | None = CURSOR
    label: str | None = Field(None, max_length=64, description="Only recipients on this list.")
    search: str | None = Field(
        None, min_length=1, max_length=200, description="Case-insensitive text in the name, externalId or an address."
    )
    channel: str | None = Field(None, max_length=40, description="Only recipients with an address on this channel.")


class RecipientList(WireModel):
    items: list[RecipientRead]
    next_cursor: str | None
    recommended_next_action: NextAction


class DeleteRecipientsInput(MutationInput):
    ids: list[Id] = Field(default_factory=list, max_length=MAX_UPSERT, description="Recipient ids (rcp_…).")
    external_ids: list[Key] = Field(default_factory=list, max_length=MAX_UPSERT, description="Or externalIds.")


class DeleteRecipientsPayload(MutationResult):
    deleted: int
    ids: list[Id] = Field(description="The recipients deleted (or that would be, in a dry run).")


class UnsubscribeRecipientInput(MutationInput):
    id: Id | None = Field(None, description="Recipient id (rcp_…).")
    external_id: str | None = Field(None, max_length=200, description="Or its externalId.")
    channel: ChannelName | None = Field(None, description="Unsubscribe from this channel only; default every channel.")


class RecipientPayload(MutationResult):
    recipient: RecipientRead
