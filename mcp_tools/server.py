"""Builds the MCP server from the operation registry; every tool is the same thin wrapper.

The SDK validates arguments against the signature before a tool runs, would answer a bad
argument with plain text, and drops every argument the signature does not name (a misspelt
``dry_run`` would vanish and the call run for real). Tools therefore get the raw arguments,
untouched (``RawArguments``), and publish the input model's schema; ``server.dispatch`` validates,
so an unknown or bad argument gets the same structured error (code, remediation,
recommendedNextAction) as on the GraphQL door, and the published ``additionalProperties: false``
is what happens.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from typing import Any, cast

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata
from mcp.types import CallToolResult, TextContent, ToolAnnotations

from server.context import Principal
from server.dispatch import error_body, execute, new_request_id
from server.errors import HeraldError, Unauthorized
from server.operations import OPERATIONS, Operation
from server.runtime import Runtime

INSTRUCTIONS = (
    "Herald distributes content to channel targets (webhooks, HTTP endpoints, ...). Typical flow: "
    "create_distribution_target, then create_distribution_plan with dryRun=true to preview each payload, "
    "then again with an idempotencyKey and awaitDelivery=true. Every result and error carries "
    "recommendedNextAction: the tool to call next with its arguments filled in."
)

PrincipalResolver = Callable[[Context], Principal]


def http_principal(ctx: Context) -> Principal:
    """The principal the HTTP auth middleware put on the request."""
    request = ctx.request_context.request
    principal = getattr(getattr(request, "state", None), "principal", None)
    if principal is None:
        raise Unauthorized("Missing API key: send 'Authorization: Bearer <key>'.")
    return principal


def fixed_principal(principal: Principal) -> PrincipalResolver:
    """stdio and in-memory clients: one principal for the whole connection."""
    return lambda _ctx: principal


def annotations_for(op: Operation) -> ToolAnnotations:
    return ToolAnnotations(
        title=op.summary.split(":")[0].rstrip("."),
        read_only_hint=not op.mutation,
        destructive_hint=op.destructive if op.mutation else False,
        idempotent_hint=not op.mutation,
        open_world_hint=op.open_world,
    )


def error_result(exc: HeraldError, request_id: str) -> CallToolResult:
    body = error_body(exc, request_id).wire()
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(body))], structured_content=body, is_error=True
    )


RAW = "_raw_arguments"


class RawArguments(FuncMetadata):
    """Hands the tool every argument the client sent, known or not, under one keyword.

    JSON-encoded objects and lists in a string are still decoded for the known fields (some clients
    send them so); a null is the same as leaving an argument out.
    """

    def validate_arguments(self, arguments_to_validate: dict[str, Any]) -> dict[str, Any]:
        return {RAW: self.pre_parse_json(arguments_to_validate)}


def _tool_function(rt: Runtime, op: Operation, resolve: PrincipalResolver) -> Callable[..., Any]:
    names = [field.alias or name for name, field in op.input_model.model_fields.items()]

    async def tool(ctx: Context, **passed: Any) -> Any:
        request_id = new_request_id()
        arguments: dict[str, Any] = passed.get(RAW) or {}
        # A null is an argument left out; an unknown name stays, null or not, to be refused.
        given = {name: value for name, value in arguments.items() if value is not None or name not in names}
        progress = _progress(ctx) if op.after is not None else None
        try:
            return await execute(rt, resolve(ctx), op.tool, given, request_id=request_id, progress=progress)
        except HeraldError as exc:
            return error_result(exc, request_id)

    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Context)]
    params += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Any) for n in names]
    tool.__signature__ = inspect.Signature(params, return_annotation=op.output_model)  # type: ignore[attr-defined]
    tool.__annotations__ = {"ctx": Context, **{n: Any for n in names}, "return": op.output_model}
    tool.__name__ = op.tool
    return tool


def _progress(ctx: Context) -> Callable[[float, float | None, str], Any]:
    async def report(done: float, total: float | None, message: str) -> None:
        await ctx.report_progress(done, total=total, message=message)

    return report


def build_mcp_server(
    rt: Runtime, resolve: PrincipalResolver = http_principal, include_mutations: bool = True
) -> MCPServer:
    mcp = MCPServer("herald", instructions=INSTRUCTIONS)
    for op in OPERATIONS:
        if op.mutation and not include_mutations:
            continue
        # The tool's schemas depend on the operation alone: built once per process (they cost most of a
        # server's construction), then each server's tool is that template bound to its runtime.
        tool = _template(op.tool).model_copy(update={"fn": _tool_function(rt, op, resolve)})
        mcp._tool_manager._tools[op.tool] = tool
    return mcp


@functools.cache
def _template(name: str) -> Tool:
    op = next(op for op in OPERATIONS if op.tool == name)
    tool = Tool.from_function(
        _tool_function(cast(Runtime, None), op, http_principal),
        name=op.tool,
        description=op.summary,
        annotations=annotations_for(op),
        structured_output=True,
    )
    # Publish the precise input schema; validation happens in server.dispatch (see module doc).
    tool.parameters = op.input_model.model_json_schema(by_alias=True)
    meta = tool.fn_metadata
    tool.fn_metadata = RawArguments(
        arg_model=meta.arg_model,
        output_schema=meta.output_schema,
        output_model=meta.output_model,
        wrap_output=meta.wrap_output,
    )
    return tool
