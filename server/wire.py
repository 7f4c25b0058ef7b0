"""Base of every data model on the wire: snake_case in Python, camelCase on both doors.

Also the input rules every door shares (``server.dispatch`` applies them before validation):
``Instant`` (a timestamp with a zone), the length caps (``Id``, ``FILTER_MAX``, ``Label``) and
``raw_problem`` (text that is not valid Unicode, numbers no database stores, nesting too deep).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, WithJsonSchema
from pydantic.alias_generators import to_camel


class Identifier:
    """Marks a string as the id of a Herald resource: the ``ID`` scalar on GraphQL, a string on MCP."""

    def __repr__(self) -> str:
        return "Identifier()"


ID_MAX = 200
FILTER_MAX = 1_000  # a string filter (label, type, operation…): longer is never a real value
LABEL_MAX = 100
TEXT_MAX = 200_000  # any string anywhere in an input (the longest field, a content body, is this long)
BASE64_MAX = 36_000_000  # an inline attachment (``dataBase64``): the attachment caps in settings decide below this
INT_MAX = 2**63 - 1  # what every database stores
DEPTH_MAX = 32  # nesting of objects and lists in one input (free-form JSON included)
NOT_UNICODE = "text is not valid Unicode (a lone surrogate such as \\ud800); send UTF-8 text"

Id = Annotated[str, Identifier(), StringConstraints(max_length=ID_MAX)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=LABEL_MAX)]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2_048)]  # a URL (templates allowed)
Key = Annotated[str, StringConstraints(min_length=1, max_length=ID_MAX)]  # a caller's own key (externalId, a field)


def _zoned(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            "a timestamp needs a time zone: add Z or an offset, e.g. 2026-06-01T10:00:00Z or 2026-06-01T12:00:00+02:00"
        )
    return value


Instant = Annotated[
    datetime,
    AfterValidator(_zoned),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "description": "ISO 8601 with a zone (Z or an offset)."},
        mode="validation",
    ),
]
"""An input timestamp: ISO 8601 with a zone; a naive one is refused, never guessed."""


def _without_field_titles(schema: dict[str, Any]) -> None:
    """Field titles would only repeat the camelCase name badly (``Awaitdelivery``); descriptions say more."""
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)


class WireModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra=_without_field_titles,
    )

    def wire(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)


def raw_problem(arguments: Any) -> tuple[str, str] | None:
    """The first value in raw input that no field may hold, as (field path, what is wrong).

    Checked before any model sees the input, so free-form JSON (``metadata``, ``config``) is covered
    too: text must be valid Unicode (no lone surrogates, which no database encodes), at most
    ``TEXT_MAX`` characters; numbers finite and within 64 bits; nesting at most ``DEPTH_MAX`` deep.
    """
    for path, value, depth in _walk(arguments):
        if depth > DEPTH_MAX:
            return path, f"nested more than {DEPTH_MAX} levels deep"
        if isinstance(value, str):
            cap = BASE64_MAX if path.endswith(".dataBase64") else TEXT_MAX
            if len(value) > cap:
                return path, f"text longer than {cap:,} characters"
            if not _is_unicode(value):
                return path, NOT_UNICODE
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int) and not -INT_MAX - 1 <= value <= INT_MAX:
            return path, "number out of range (at most 64 bits)"
        elif isinstance(value, float) and not math.isfinite(value):
            return path, "number is not finite (NaN and Infinity are not numbers here)"
    return None


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(key: str) -> str:
    """A key as it can appear in an error message: lone surrogates escaped, at most 60 characters."""
    text = key.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= 60 else text[:57] + "..."


def _walk(value: Any) -> Iterator[tuple[str, Any, int]]:
    """Every value under ``value`` (dict keys as text too), with its dotted path and depth; no recursion."""
    stack: list[tuple[str, Any, int]] = [("", value, 0)]
    while stack:
        path, item, depth = stack.pop()
        yield path or "input", item, depth
        if depth > DEPTH_MAX:
            continue
        if isinstance(item, dict):
            for key, child in item.items():
                name = printable(str(key))
                child_path = f"{path}.{name}" if path else name
                if isinstance(key, str) and not _is_unicode(key):
                    yield child_path, key, depth + 1
                stack.append((child_path, child, depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((f"{path}[{index}]", child, depth + 1) for index, child in enumerate(item))
