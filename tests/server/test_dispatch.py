"""The pipeline owns dry runs: whatever a handler writes in one is rolled back, and its hint is built here."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from server.activity.schemas import HaltInput, HaltPayload
from server.context import OpContext
from server.db import session_scope
from server.dispatch import run_operation
from server.hints import for_real
from server.models import AuditEvent, IdempotencyRecord, OperationalEvent, Workspace
from server.operations import BY_TOOL, Operation
from server.runtime import Runtime
from tests.support import factories


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = factories.runtime(tmp_path)
    yield runtime
    runtime.close()


def careless_halt(ran: list[str], reason: str | None = None) -> Operation:
    """halt_deliveries with a handler that writes and queues an effect even in a dry run."""

    def handler(ctx: OpContext, session: Session, data: HaltInput) -> HaltPayload:
        workspace = session.get(Workspace, ctx.workspace_id)
        assert workspace is not None
        workspace.halted = True
        session.add(workspace)
        session.flush()
        ctx.after_commit(lambda: ran.append("published"))
        return HaltPayload(halted=True, recommended_next_action=for_real(reason, extra=1))

    return replace(BY_TOOL["halt_deliveries"], handler=handler)


def state(rt: Runtime) -> tuple[bool, int, int, int]:
    with session_scope(rt.engine) as session:
        workspace = session.get(Workspace, "ws_default")
        assert workspace is not None
        counts = [session.exec(select(func.count()).select_from(m)).one() for m in (AuditEvent, IdempotencyRecord)]
        events = session.exec(select(func.count()).select_from(OperationalEvent)).one()
        return workspace.halted, counts[0], counts[1], events


def context(rt: Runtime) -> OpContext:
    principal, _ = factories.principal(rt)
    return OpContext(runtime=rt, principal=principal, request_id="req_dry")


def test_a_dry_run_is_rolled_back_whatever_the_handler_did(rt: Runtime) -> None:
    ran: list[str] = []
    ctx = context(rt)
    before = state(rt)
    op = careless_halt(ran)
    result = run_operation(op, ctx, HaltInput(dry_run=True, idempotency_key="k1", reason="drill"))
    assert state(rt) == before == (False, 0, 0, 0)
    assert ran == []
    assert result.wire()["dryRun"] is True
    assert result.wire()["recommendedNextAction"] == {
        "tool": "halt_deliveries",
        "graphql": "haltDeliveries",
        "arguments": {"idempotencyKey": "k1", "reason": "drill", "extra": 1},
        "reason": "Halt for real.",
        "afterSeconds": None,
    }


def test_the_handler_reason_wins_over_the_operation_one(rt: Runtime) -> None:
    result = run_operation(careless_halt([], "Halt now, really."), context(rt), HaltInput(dry_run=True))
    action = result.wire()["recommendedNextAction"]
    assert (action["reason"], action["arguments"]) == ("Halt now, really.", {"extra": 1})


def test_the_same_handler_for_real_commits_and_runs_its_effects(rt: Runtime) -> None:
    ran: list[str] = []
    result = run_operation(careless_halt(ran), context(rt), HaltInput(idempotency_key="k2"))
    assert state(rt) == (True, 1, 1, 0)
    assert ran == ["published"]
    assert result.wire()["dryRun"] is False
