"""Every operation answers the same over REST as over MCP: each read and each mutation's dry run with the
access matrix's arguments, and the refusal of an unknown argument, body for body."""

from __future__ import annotations

import re
from typing import Any

import pytest

from server.operations import OPERATIONS, Operation
from tests import test_security
from tests.support.marks import each_operation
from tests.test_security import World, arguments_for

world = test_security.world  # the access matrix's world: workspace A with one of everything

# Differ between two calls by design: each request's own id; the key's last use, which a bearer call records
# (to the minute) and an in-process MCP principal does not; a worker's heartbeat; a dry run's preview, stamped now.
VOLATILE = {"requestId", "lastUsedAt", "lastBeatAt", "updatedAt"}


# A dry run previews what it would create: ids minted and times counted from now, for this call alone.
FRESH_ID = re.compile(r"[a-z]{3}_[0-9a-z]{26}")
FROM_NOW = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d)")


def stable(value: Any, known: frozenset[str] = frozenset()) -> Any:
    if isinstance(value, dict):
        return {k: stable(v, known) for k, v in value.items() if k not in VOLATILE and k != "_isError"}
    if isinstance(value, list):
        return [stable(item, known) for item in value]
    if isinstance(value, str) and known:
        if FRESH_ID.fullmatch(value) and value not in known:
            return "<minted>"
        if FROM_NOW.fullmatch(value):
            return "<from now>"
    return value


def both(world: World, op: Operation, arguments: dict[str, Any]) -> tuple[Any, int, Any]:
    mcp = world.call(world.admin, op.tool, **arguments)
    status, rest = world.rest(world.admin_secret, op, arguments)
    return mcp, status, rest


@pytest.mark.parametrize("op", each_operation(OPERATIONS))
def test_same_outcome_on_rest_and_mcp(world: World, op: Operation) -> None:
    arguments = arguments_for(op, world.ids, world.spare_key)
    if op.mutation:
        arguments = {**arguments, "dryRun": True}
    before = world.state()
    mcp, status, rest = both(world, op, arguments)
    assert mcp["_isError"] is False, mcp
    assert status == 200, rest
    known = frozenset(world.ids.values()) if op.mutation else frozenset()
    assert stable(rest, known) == stable(mcp, known)
    assert world.state() == before


@pytest.mark.parametrize("op", each_operation(OPERATIONS))
def test_same_refusal_of_an_unknown_argument(world: World, op: Operation) -> None:
    arguments = {**arguments_for(op, world.ids, world.spare_key), "bogusArgument": "x"}
    before = world.state()
    mcp, status, rest = both(world, op, arguments)
    assert mcp["_isError"] is True and mcp["code"] == "VALIDATION_ERROR"
    assert (status, stable(rest)) == (400, {"error": stable(mcp)})
    assert world.state() == before
