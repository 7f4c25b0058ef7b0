"""``test_distribution_target``: one test delivery through the engine's path, outside the operation's transaction.

The operation itself (``test_target``) only reads and refuses inside its transaction: an unknown
target, a paused one, a halted workspace; a dry run returns the preview. The request goes out in its
``after`` step (``send_test``), after the commit, on the delivery loop with its ``ChannelIO``: the
same render → send → classify as a real delivery. A 429 pauses the target as a real delivery's would.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio
from sqlmodel import Session

from adapters import Content, DeliveryContext, ErrorClass, Policy, TargetView, get_channel
from server import idempotency
from server.context import OpContext
from server.db import session_scope
from server.delivery.engine import send_one
from server.delivery.recording import Result, pause_rate_limited
from server.errors import HeraldError
from server.hints import NextAction, hint
from server.ids import new_id
from server.models import Target, Workspace
from server.models.base import utcnow
from server.redaction import redact
from server.targets import circuit
from server.targets import repository as repo
from server.targets.schemas import TargetIdInput, TestTargetPayload

TEST_CONTENT = Content(id="herald-test", version="1", title="Herald test delivery", body="This is a test from Herald.")


def test_target(ctx: OpContext, session: Session, data: TargetIdInput) -> TestTargetPayload:
    target = _sendable(ctx, session, data.id)
    view = repo.target_view(target, ctx.runtime.box)
    payload = get_channel(target.channel).render(TEST_CONTENT, Policy(), view)
    preview = {"body": payload.body, "contentType": payload.content_type}
    read = repo.to_read(target, ctx.runtime.settings)
    if data.dry_run:
        return TestTargetPayload(
            target=read,
            ok=None,
            dry_run=True,
            preview=preview,
            recommended_next_action=hint("test_distribution_target", "Send the test delivery for real.", id=target.id),
        )
    # Replaced by ``send_test`` once the delivery is done.
    return TestTargetPayload(
        target=read,
        ok=None,
        preview=preview,
        recommended_next_action=hint("get_distribution_target", "The test delivery is on its way.", id=target.id),
    )


async def send_test(ctx: OpContext, data: TargetIdInput, result: TestTargetPayload) -> TestTargetPayload:
    """The ``after`` step: send the test delivery, then record what it changed and the final result."""
    if data.dry_run or result.replayed:
        return result
    view = await anyio.to_thread.run_sync(_load_view, ctx, data.id)
    delivery = DeliveryContext(delivery_id=new_id("job"), attempt=1, plan_id="test", timestamp=utcnow())
    sent = await ctx.runtime.delivery_loop.arun(lambda io: send_one(io, view, TEST_CONTENT, Policy(), delivery))
    return await anyio.to_thread.run_sync(_record, ctx, data, result, view, sent, delivery.delivery_id)


def _sendable(ctx: OpContext, session: Session, target_id: str) -> Target:
    """The target, unless a test delivery may not go out now: deliveries halted, or the target paused."""
    target = repo.load_target(session, ctx.workspace_id, target_id)
    workspace = session.get(Workspace, ctx.workspace_id)
    if workspace is not None and workspace.halted:
        raise HeraldError(
            "Deliveries are halted in this workspace; no request leaves it, test deliveries included.",
            code="DELIVERIES_HALTED",
            remediation="Resume deliveries once the reason for the halt is resolved, then test again.",
            next_action=hint("resume_deliveries", "Resume deliveries in this workspace, then test again."),
        )
    if repo.is_paused(target):
        raise HeraldError(
            f"Target {target.id} is paused until {target.paused_until:%Y-%m-%dT%H:%M:%SZ}: {target.pause_reason}.",
            code="TARGET_PAUSED",
            remediation="Wait for the pause to end, or resume the target if the cause is fixed.",
            next_action=hint("resume_distribution_target", "Resume the target, then test again.", id=target.id),
        )
    if circuit.is_open(target, utcnow()):
        raise HeraldError(
            f"The circuit of target {target.id} is open until {target.circuit_until:%Y-%m-%dT%H:%M:%SZ}: "
            f"{target.circuit_reason}.",
            code="CIRCUIT_OPEN",
            remediation="Wait for the cooldown (the next delivery is the probe), or resume the target if it is fixed.",
            next_action=hint(
                "resume_distribution_target",
                "Resume the target only if the receiver is fixed; it closes the circuit.",
                id=target.id,
            ),
        )
    return target


def _load_view(ctx: OpContext, target_id: str) -> TargetView[Any, Any]:
    """Read again in a short transaction of its own, closed before the request leaves (a halt may have come)."""
    with session_scope(ctx.runtime.engine) as session:
        return repo.target_view(_sendable(ctx, session, target_id), ctx.runtime.box)


def _record(
    ctx: OpContext,
    data: TargetIdInput,
    pending: TestTargetPayload,
    view: TargetView[Any, Any],
    sent: Result,
    sent_id: str,
) -> TestTargetPayload:
    rt, error = ctx.runtime, sent.error
    with session_scope(rt.engine) as session:
        target = repo.load_target(session, ctx.workspace_id, view.id, lock=error is not None)
        if error is not None and error.error_class == ErrorClass.RATE_LIMITED:
            pause_rate_limited(rt, session, target, error)
            session.add(target)
        elif error is not None:
            # Recorded like a delivery's outcome: a systemic failure opens the circuit. A test is never the
            # circuit's probe (that is the next delivery), so it cannot close one.
            circuit.after_attempt(session, target, sent_id, error.error_class, utcnow(), rt.settings)
        final = _result(pending, repo.to_read(target, rt.settings), target, view, sent)
        if data.idempotency_key:
            idempotency.complete(rt, session, ctx.workspace_id, data.idempotency_key, final.wire())
    if error is not None and error.error_class == ErrorClass.RATE_LIMITED:
        rt.limiter.flag_pause(view.id, error.retry_after_seconds or rt.settings.default_pause_seconds)
    return final


def _result(
    pending: TestTargetPayload, read: Any, target: Target, view: TargetView[Any, Any], sent: Result
) -> TestTargetPayload:
    error, duration = sent.error, round(sent.duration_ms, 2)
    if error is not None:
        return pending.model_copy(
            update={
                "target": read,
                "ok": False,
                "status_code": error.status_code,
                "error_class": error.error_class,
                "duration_ms": duration,
                "error": redact(error.message, repo.view_secrets(view)),
                "recommended_next_action": _fix_hint(target, error.error_class),
            }
        )
    receipt = sent.receipt
    assert receipt is not None
    return pending.model_copy(
        update={
            "ok": True,
            "status_code": receipt.meta.get("statusCode"),
            "external_id": receipt.external_id,
            "duration_ms": duration,
            "recommended_next_action": hint(
                "create_distribution_plan", "The target works; distribute content to it.", targetIds=[target.id]
            ),
        }
    )


def _fix_hint(target: Target, error_class: ErrorClass) -> NextAction:
    if error_class == ErrorClass.RATE_LIMITED:
        wait = (target.paused_until - datetime.now(UTC)).total_seconds() if target.paused_until else 60.0
        return hint(
            "get_distribution_target",
            "The provider rate-limited the test and the target is paused until its reset, so look again then.",
            after_seconds=round(max(wait, 0.0), 1),
            id=target.id,
        )
    if error_class == ErrorClass.TRANSIENT:
        return hint(
            "test_distribution_target", "A transient failure; test again shortly.", after_seconds=30, id=target.id
        )
    return hint("update_distribution_target", "Fix the target's config or credentials, then test again.", id=target.id)
