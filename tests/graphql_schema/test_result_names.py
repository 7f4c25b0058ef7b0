"""One naming rule for what operations answer, so a fragment's type follows from the operation alone:
a mutation answers ``<Noun>Payload``, a list ``<Noun>List`` (items, nextCursor), a single read ``<Noun>Result``."""

from __future__ import annotations

from graphql_schema.schema import schema
from server.common import MutationResult
from server.operations import OPERATIONS


def expected_suffix(op_kind: str, fields: set[str]) -> str:
    if op_kind == "mutation":
        return "Payload"
    return "List" if {"items", "next_cursor"} <= fields else "Result"


def test_every_operation_answers_a_type_named_by_the_rule() -> None:
    """Before: TargetPayload, TestTargetResult, JobsRequeued, HaltResult and DeadLetterPayload (a read) side by side."""
    wrong = []
    for op in OPERATIONS:
        name = op.output_model.__name__
        suffix = expected_suffix(op.kind, set(op.output_model.model_fields))
        if not name.endswith(suffix) or (op.mutation and not issubclass(op.output_model, MutationResult)):
            wrong.append(f"{op.tool}: {name} (want …{suffix})")
        member_names = {
            t.name for t in schema._schema.get_type(op.graphql[0].upper() + op.graphql[1:] + "Result").types
        }
        if member_names != {name, "OperationError"}:
            wrong.append(f"{op.graphql}: union of {sorted(member_names)}")
    assert wrong == []
