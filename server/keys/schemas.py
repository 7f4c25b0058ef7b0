from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from server.common import CURSOR, LIMIT, MutationInput, MutationResult
from server.hints import NextAction
from server.wire import Id, WireModel

ScopeName = Literal["read", "write", "deliver", "admin"]


class ApiKeyRead(WireModel):
    id: Id | None = Field(description="Key id (key_…); null in a dry run.")
    name: str
    prefix: str | None = Field(description="The first characters of the key, to recognise it.")
    scopes: list[str]
    read_only: bool
    created_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class CreateApiKeyInput(MutationInput):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[ScopeName] = Field(
        default_factory=lambda: list[ScopeName](["read", "write", "deliver"]),
        min_length=1,
        max_length=4,
        description="read, write (targets), deliver (plans), admin (keys, halts, dead-letter replay).",
    )
    read_only: bool = Field(False, description="Refuse every mutation except dry runs (for agents that only look).")


class ApiKeyPayload(MutationResult):
    key: ApiKeyRead
    secret: str | None = Field(None, description="The key itself, shown only in this response.")


class ListApiKeysInput(WireModel):
    limit: int = LIMIT
    cursor: str | None = CURSOR


class ApiKeyList(WireModel):
    items: list[ApiKeyRead]
    next_cursor: str | None
    recommended_next_action: NextAction


class RevokeApiKeyInput(MutationInput):
    id: Id = Field(description="Key id (key_…).")
