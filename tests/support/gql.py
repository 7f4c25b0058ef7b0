"""Build a GraphQL call for any registry operation from plain arguments (for generic door tests)."""

from __future__ import annotations

import json
from typing import Any

from graphql_schema.types import graphql_values
from server.operations import Operation


class EnumName(str):
    """An enum value, written bare (``STUB``, not ``"STUB"``)."""


def literal(value: Any) -> str:
    if isinstance(value, EnumName):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {literal(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return json.dumps(value)


def document(op: Operation, arguments: dict[str, Any]) -> str:
    """``arguments`` as MCP takes them; enum values become the GraphQL enum names."""
    values = graphql_values(op.input_model, arguments, lambda member: EnumName(member.name))
    args = ", ".join(f"{name}: {literal(value)}" for name, value in values.items())
    call = f"{op.graphql}({args})" if args else op.graphql
    kind = "mutation" if op.mutation else "query"
    return f"{kind} {{ {call} {{ __typename ... on OperationError {{ code message field }} }} }}"
