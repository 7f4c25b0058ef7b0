"""The one pipeline every call from either door goes through.

parse input → check the principal → claim the idempotency key → run the operation in one
transaction (audit and idempotency record inside it) → run after-commit effects → after-step.

A dry run (a mutation with dryRun=true) runs the same handler in a transaction that is always rolled
back, whatever the handler did; it claims no idempotency key, writes no audit row, and runs neither
after-commit effects nor the after-step. When its result leaves the hint to the pipeline
(``hints.for_real``), the hint becomes the same call without dryRun.
"""

from __future__ import annotations

import difflib
import logging
import secrets
from functools import partial
from typing import Any, get_args

import anyio
from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

from server import audit, idempotency
from server.common import OperationError
from server.context import OpContext, Principal, ProgressCallback
from server.db import session_scope
from server.errors import HeraldError, InternalError, Unauthorized, ValidationFailed
from server.hints import ForReal, NextAction, hint
from server.operations import BY_TOOL, Operation
from server.runtime import Runtime
from server.wire import NOT_UNICODE, WireModel, printable, raw_problem

log = logging.getLogger(__name__)


def new_request_id() -> str:
    return "req_" + secrets.token_hex(8)


def parse_input(op: Operation, arguments: dict[str, Any]) -> WireModel:
    """Validate raw arguments by their wire (camelCase) names only; anything not understood is refused.

    An unknown name is never dropped: a misspelt ``dry_run`` would otherwise run for real. The
    error names the field and, for a near miss, the field meant.
    """
    try:
        data = op.input_model.model_validate(arguments, by_alias=True, by_name=False)
    except ValidationError as exc:
        # An unknown field first: it is often why a required one seems missing (``titel`` for ``title``).
        errors = sorted(
            exc.errors(include_url=False, include_input=False), key=lambda e: e["type"] != "extra_forbidden"
        )
        first = errors[0]
        field = _dotted(first["loc"]) or None
        problems = "; ".join(f"{_dotted(e['loc']) or 'input'}: {_problem(op, e)}" for e in errors[:5])
        raise ValidationFailed(
            f"Invalid arguments for {op.tool}: {problems}.", field=field, next_action=_retry_hint(op, arguments, errors)
        ) from None
    # What no field type says: text a database cannot encode, numbers it cannot hold, free-form JSON
    # nested too deep (checked on the raw input, so metadata and config are covered too).
    problem = raw_problem(arguments)
    if problem is not None:
        field, what = problem
        raise ValidationFailed(
            f"Invalid arguments for {op.tool}: {field}: {what}.",
            field=field,
            next_action=hint(op.tool, "Correct the named field and call again."),
        )
    return data


def _retry_hint(op: Operation, arguments: dict[str, Any], errors: list[ErrorDetails]) -> NextAction:
    """When every problem is a misspelt top-level name, the hint is the same call spelt right."""
    known = _field_names(op.input_model, ())
    if raw_problem(arguments) is not None:  # never echo what cannot be encoded
        return hint(op.tool, "Correct the named field(s) and call again.")
    renamed: dict[str, str] = {}
    for error in errors:
        meant = _near_miss(str(error["loc"][-1]), known) if error["type"] == "extra_forbidden" else None
        if meant is None or len(error["loc"]) != 1 or meant in arguments:
            return hint(op.tool, "Correct the named field(s) and call again.")
        renamed[str(error["loc"][0])] = meant
    corrected = {renamed.get(name, name): value for name, value in arguments.items()}
    spelt = ", ".join(f"{meant!r} for {name!r}" for name, meant in renamed.items())
    return hint(op.tool, f"Call again with {spelt}.", **corrected)


def _dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(printable(str(part)) for part in loc)


def _problem(op: Operation, error: ErrorDetails) -> str:
    if error["type"] == "extra_forbidden":
        known = _field_names(op.input_model, error["loc"][:-1])
        unknown = str(error["loc"][-1])
        meant = _near_miss(unknown, known)
        if meant:
            suggestion = f"did you mean {meant!r}?"
        else:
            suggestion = f"the known fields are {', '.join(known)}" if known else "no such field here"
        return f"unknown field {printable(unknown)!r} ({suggestion}); refused, nothing was done"
    if error["type"] == "string_unicode":
        return NOT_UNICODE
    return error["msg"].removeprefix("Value error, ")


def _near_miss(unknown: str, known: list[str]) -> str | None:
    if to_camel(unknown) in known:
        return to_camel(unknown)
    folded = {name.lower().replace("_", ""): name for name in known}
    if unknown.lower().replace("_", "") in folded:
        return folded[unknown.lower().replace("_", "")]
    close = difflib.get_close_matches(unknown, known, n=1, cutoff=0.6)
    return close[0] if close else None


def _field_names(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The wire names of the model found at ``loc`` under ``model`` (list indexes skipped)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = {field.alias or name: field for name, field in current.model_fields.items()}
        field = fields.get(str(part))
        found = _model_in(field.annotation) if field is not None else None
        if found is None:
            return []
        current = found
    return [field.alias or name for name, field in current.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((found for arg in get_args(annotation) if (found := _model_in(arg)) is not None), None)


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
    try:
        return await _execute(op, ctx, arguments)
    except HeraldError as exc:
        if not isinstance(exc, InternalError):  # a fault is logged with its traceback where it happened
            log.info("request %s refused: %s %s (field %s)", ctx.request_id, exc.code, op.tool, exc.field)
        raise


async def _execute(op: Operation, ctx: OpContext, arguments: dict[str, Any]) -> WireModel:
    principal = ctx.principal
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
        message=_encodable(exc.message),
        remediation=exc.remediation,
        field=_encodable(exc.field) if exc.field is not None else None,
        request_id=request_id,
        recommended_next_action=exc.next_action or hint(None, exc.remediation),
    )


def _encodable(text: str) -> str:
    """An error may quote what the caller sent: lone surrogates escaped, so the answer always encodes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
