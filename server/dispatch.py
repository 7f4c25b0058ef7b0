"""The one pipeline every call from either door goes through.

parse input → check the principal → claim the idempotency key → run the operation in one
transaction (audit and idempotency record inside it) → run after-commit effects → after-step.

A dry run (a mutation with dryRun=true) runs the same handler in a transaction that is always rolled
back, whatever the handler did; it claims no idempotency key, writes no audit row, and runs neither
after-commit effects nor the after-step. When its result leaves the hint to the pipeline
(``hints.for_real``), the hint becomes the same call without dryRun.
"""

from __future__ import annotations

import logging
import secrets
from functools import partial
from typing import Any

import anyio
from pydantic import ValidationError

from server import audit, idempotency
from server.common import OperationError
from server.context import OpContext, Principal, ProgressCallback
from server.db import session_scope
from server.errors import HeraldError, InternalError, Unauthorized, ValidationFailed
from server.hints import ForReal, hint
from server.operations import BY_TOOL, Operation
from server.runtime import Runtime
from server.wire import WireModel

log = logging.getLogger(__name__)


def new_request_id() -> str:
    return "req_" + secrets.token_hex(8)


def parse_input(op: Operation, arguments: dict[str, Any]) -> WireModel:
    try:
        return op.input_model.model_validate(arguments)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in exc.errors()[:5])
        raise ValidationFailed(
            f"Invalid arguments for {op.tool}: {problems}.",
            field=field,
            next_action=hint(op.tool, "Correct the named field(s) and call again."),
        ) from None


def check_access(op: Operation, principal: Principal, data: WireModel) -> None:
    dry_run = bool(getattr(data, "dry_run", False))
    if op.mutation and principal.read_only and not dry_run:
        raise Unauthorized(
            f"This API key is read-only; {op.tool} changes state. Dry runs still work.",
            code="READ_ONLY_KEY",
            remediation="Use dryRun=true, or a key with write access.",
        )
    if op.scope not in principal.scopes and not (dry_run and "read" in principal.scopes):
        raise Unauthorized(
            f"This API key lacks the {op.scope!r} scope needed by {op.tool}.",
            code="FORBIDDEN",
            remediation=f"Use a key with the {op.scope!r} scope.",
        )


async def execute(
    rt: Runtime,
    principal: Principal,
    tool: str,
    arguments: dict[str, Any],
    *,
    request_id: str | None = None,
    progress: ProgressCallback | None = None,
) -> WireModel:
    op = BY_TOOL[tool]
    ctx = OpContext(runtime=rt, principal=principal, request_id=request_id or new_request_id(), progress=progress)
    data = parse_input(op, arguments)
    try:
        check_access(op, principal, data)
    except Unauthorized as exc:
        await anyio.to_thread.run_sync(
            audit.record_failure, ctx, op.tool, data.model_dump(mode="json", by_alias=True), exc.code
        )
        raise
    result = await anyio.to_thread.run_sync(partial(run_operation, op, ctx, data))
    if op.after is not None and not is_dry_run(op, data):
        result = await op.after(ctx, data, result)
    return result


def is_dry_run(op: Operation, data: WireModel) -> bool:
    return op.mutation and bool(getattr(data, "dry_run", False))


def run_operation(op: Operation, ctx: OpContext, data: WireModel) -> WireModel:
    arguments = data.model_dump(mode="json", by_alias=True)
    dry_run = is_dry_run(op, data)
    writes = op.mutation and not dry_run
    key = getattr(data, "idempotency_key", None) if writes else None
    if key:
        sent = data.model_dump(mode="json", by_alias=True, exclude={"dry_run"}, exclude_none=True)
        stored = idempotency.claim(
            ctx.runtime, ctx.workspace_id, key, op.tool, idempotency.request_hash(op.tool, arguments), sent
        )
        if stored is not None:
            return op.output_model.model_validate(stored).model_copy(update={"replayed": True})
    try:
        with session_scope(ctx.runtime.engine) as session:
            result = op.handler(ctx, session, data)
            if dry_run:
                session.rollback()
                ctx.on_commit.drop()
                return dry_run_result(op, data, result)
            if writes:
                audit.record_in(session, ctx, op.tool, arguments)
            if key:
                idempotency.complete(ctx.runtime, session, ctx.workspace_id, key, result.wire())
    except BaseException as exc:
        ctx.on_commit.drop()
        _on_failure(op, ctx, arguments, key, writes, exc)
        if isinstance(exc, HeraldError) or not isinstance(exc, Exception):
            raise
        raise InternalError(f"Internal error (request id {ctx.request_id}).") from exc
    ctx.on_commit.run()
    return result


def dry_run_result(op: Operation, data: WireModel, result: WireModel) -> WireModel:
    """Mark the result a dry run; a ``for_real`` hint becomes the same call without dryRun."""
    update: dict[str, Any] = {"dry_run": True}
    action = getattr(result, "recommended_next_action", None)
    if isinstance(action, ForReal):
        echoed = data.model_dump(mode="json", by_alias=True, exclude={"dry_run"}, exclude_none=True)
        update["recommended_next_action"] = hint(
            op.tool, action.reason or op.confirm_reason, **{**echoed, **action.arguments}
        )
    return result.model_copy(update=update)


def _on_failure(
    op: Operation, ctx: OpContext, arguments: dict, key: str | None, writes: bool, exc: BaseException
) -> None:
    if key:
        idempotency.release(ctx.runtime, ctx.workspace_id, key)
    if writes:
        audit.record_failure(ctx, op.tool, arguments, exc.code if isinstance(exc, HeraldError) else "INTERNAL_ERROR")
    if not isinstance(exc, HeraldError):
        log.error("request %s: %s failed unexpectedly", ctx.request_id, op.tool, exc_info=exc)


def error_body(exc: HeraldError, request_id: str | None = None) -> OperationError:
    """The structured error both doors return."""
    return OperationError(
        code=exc.code,
        message=exc.message,
        remediation=exc.remediation,
        field=exc.field,
        request_id=request_id,
        recommended_next_action=exc.next_action or hint(None, exc.remediation),
    )
