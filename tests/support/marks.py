"""Per-operation matrices run a sample under `make check` and in full under `make test`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from server.operations import Operation

# One operation per scope, reads and mutations: what `make check` runs of each per-operation matrix.
SAMPLE = frozenset(
    {
        "get_distribution_target",  # read
        "update_distribution_target",  # write
        "create_distribution_plan",  # deliver
        "halt_deliveries",  # admin mutation
        "list_api_keys",  # admin read
    }
)


def unless_sampled(tool: str) -> tuple[pytest.MarkDecorator, ...]:
    """The marks of a matrix entry for ``tool``: none in the sample, else slow."""
    return () if tool in SAMPLE else (pytest.mark.slow,)


def each_operation(operations: Iterable[Operation]) -> list[Any]:
    """``operations`` as pytest params with the tool as id; those outside the sample are marked slow."""
    return [pytest.param(op, id=op.tool, marks=unless_sampled(op.tool)) for op in operations]
