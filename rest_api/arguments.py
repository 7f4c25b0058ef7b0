"""A REST request → the arguments the operation takes, by their wire names.

Path parameters name arguments; a read's query parameters are its other arguments (a list argument
repeats its parameter; pydantic reads numbers, booleans and times from their text); a mutation's are in
its JSON body. ``Idempotency-Key`` is the same as ``idempotencyKey`` in the body. Saying one argument two
different ways (path and body, header and body) is a VALIDATION_ERROR, and so is a query parameter on a
mutation: nothing is guessed.
"""

from __future__ import annotations

from typing import Any, get_args, get_origin

from starlette.requests import Request

from rest_api.routes import RestRoute
from server.errors import HeraldError, ValidationFailed
from server.hints import hint
from server.json_body import MalformedJson, parse_object
from server.wire import WireModel

IDEMPOTENCY_HEADER = "idempotency-key"
_FIX_BODY = (
    'Send a UTF-8 JSON object of camelCase arguments, e.g. {"dryRun": true}, with Content-Type: application/json.'
)


async def arguments_of(route: RestRoute, request: Request) -> dict[str, Any]:
    op = route.op
    if op.mutation:
        if request.query_params:
            raise _invalid(route, next(iter(request.query_params)), "a mutation takes its arguments in the JSON body")
        arguments = await _body(request)
        _merge(
            route, arguments, "idempotencyKey", request.headers.get(IDEMPOTENCY_HEADER), "the Idempotency-Key header"
        )
    else:
        arguments = _query(op.input_model, request)
    for name in route.path_fields:
        _merge(route, arguments, name, request.path_params[name], "the path")
    return arguments


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return parse_object(raw, '{"name": "…", "dryRun": true}')
    except MalformedJson as exc:
        raise HeraldError(str(exc), code="MALFORMED_REQUEST", remediation=_FIX_BODY) from None


def _query(model: type[WireModel], request: Request) -> dict[str, Any]:
    lists = {field.alias or name for name, field in model.model_fields.items() if _is_list(field.annotation)}
    arguments: dict[str, Any] = {}
    for name in request.query_params:
        values = request.query_params.getlist(name)
        if name in lists:
            arguments[name] = values
        elif len(values) > 1:
            raise ValidationFailed(f"Query parameter {name!r} was given {len(values)} times; give it once.", field=name)
        else:
            arguments[name] = values[0]
    return arguments


def _is_list(annotation: Any) -> bool:
    if get_origin(annotation) is list:
        return True
    return any(_is_list(arg) for arg in get_args(annotation))


def _merge(route: RestRoute, arguments: dict[str, Any], name: str, value: str | None, where: str) -> None:
    if value is None:
        return
    if name in arguments and arguments[name] != value:
        raise _invalid(route, name, f"{where} says {value!r} but the body says {arguments[name]!r}; say it once")
    arguments[name] = value


def _invalid(route: RestRoute, field: str, why: str) -> ValidationFailed:
    return ValidationFailed(
        f"Invalid request for {route.tool}: {field}: {why}.",
        field=field,
        next_action=hint(route.tool, "Send each argument once, mutations' in the JSON body, and call again."),
    )
