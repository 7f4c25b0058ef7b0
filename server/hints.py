"""recommendedNextAction: the one call an agent (or a person) should make next, ready to send."""

from __future__ import annotations

from datetime import datetime
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


# A wait hint asks to look again no sooner than this and no later than that: a longer wait is named, not slept.
MIN_WAIT_SECONDS = 0.5
MAX_WAIT_SECONDS = 300.0


def wait_until(until: datetime, now: datetime) -> float | None:
    """Seconds to wait for ``until`` (at least ``MIN_WAIT_SECONDS``), or None when it is beyond ``MAX_WAIT_SECONDS``."""
    seconds = (until - now).total_seconds()
    if seconds > MAX_WAIT_SECONDS:
        return None
    return max(round(seconds, 1), MIN_WAIT_SECONDS)


def done(reason: str) -> NextAction:
    return NextAction(reason=reason)


class ForReal(NextAction):
    """What a dry run returns to leave its hint to the pipeline: the same call again without dryRun."""


def for_real(reason: str | None = None, /, **arguments: Any) -> NextAction:
    """The dry run's hint, filled in by ``server.dispatch``: the same tool and arguments minus dryRun.

    ``reason`` overrides the operation's ``confirm_reason``; ``arguments`` are added to (or replace)
    the echoed ones, for a dry run that knows more than the caller said (a confirmation token, …).
    """
    return ForReal(reason=reason or "", arguments=arguments)
