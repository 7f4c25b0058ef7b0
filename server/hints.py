"""recommendedNextAction: the one call an agent (or a person) should make next, ready to send."""

from __future__ import annotations

from typing import Any

from server.wire import WireModel

# MCP tool name -> GraphQL field name, for every operation a hint may point at.
GRAPHQL_NAMES: dict[str, str] = {}


class NextAction(WireModel):
    tool: str | None = None
    graphql: str | None = None
    arguments: dict[str, Any] = {}
    reason: str
    after_seconds: float | None = None


def hint(tool: str | None, reason: str, /, after_seconds: float | None = None, **arguments: Any) -> NextAction:
    """A hint naming the MCP tool; its GraphQL twin comes from the operation registry.

    ``arguments`` are the next call's camelCase arguments, so they never collide with these
    snake_case parameters.
    """
    return NextAction(
        tool=tool,
        graphql=GRAPHQL_NAMES.get(tool) if tool else None,
        arguments=arguments,
        reason=reason,
        after_seconds=after_seconds,
    )


def done(reason: str) -> NextAction:
    return NextAction(reason=reason)
