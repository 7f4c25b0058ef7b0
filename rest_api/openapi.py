"""The OpenAPI 3.1 document of the REST door, generated from the routes table and the operations' models.

Schemas are the same pydantic models' JSON Schemas the MCP tools publish (camelCase aliases), under
``components/schemas``; each operation's ``operationId`` is its MCP tool name (an RFC alias route adds
``_rfc``), and ``x-scope`` names the scope a key needs.
"""

from __future__ import annotations

import copy
import functools
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from rest_api.errors import STATUS_BY_CODE
from rest_api.routes import OPENAPI_PATH, PLAN_EVENTS_PATH, ROUTES, RestRoute
from server import __version__
from server.common import OperationError
from server.operations import OPERATIONS
from server.plans.live import PlanProgressEvent

REF = "#/components/schemas/{model}"
Mode = Literal["validation", "serialization"]
ERROR_STATUSES = sorted({str(status) for status in STATUS_BY_CODE.values()})


def _schemas() -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
    models: list[tuple[type[BaseModel], Mode]] = [(op.input_model, "validation") for op in OPERATIONS]
    models += [(op.output_model, "serialization") for op in OPERATIONS]
    models += [(OperationError, "serialization"), (PlanProgressEvent, "serialization")]
    refs, defs = models_json_schema(list(dict.fromkeys(models)), by_alias=True, ref_template=REF)
    return dict(refs), dict(defs.get("$defs", {}))


def _name(ref: dict[str, Any]) -> str:
    return str(ref["$ref"]).rsplit("/", 1)[-1]


def _parameter(name: str, where: str, schema: dict[str, Any], required: bool) -> dict[str, Any]:
    parameter = {"name": name, "in": where, "required": required, "schema": schema}
    if "description" in schema:
        parameter["description"] = schema["description"]
    if where == "query" and schema.get("type") == "array":
        parameter |= {"style": "form", "explode": True}
    return parameter


def _operation(route: RestRoute, input_schema: dict[str, Any], output_ref: dict[str, Any]) -> dict[str, Any]:
    op = route.op
    properties: dict[str, Any] = input_schema.get("properties", {})
    required = set(input_schema.get("required", []))
    parameters = [_parameter(name, "path", properties[name], True) for name in route.path_fields]
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": op.summary,
        "tags": [route.path.split("/")[3]],
        "x-scope": op.scope,
        "responses": {
            "200": {"description": "The operation's result.", "content": {"application/json": {"schema": output_ref}}},
            **{status: {"$ref": "#/components/responses/Error"} for status in ERROR_STATUSES},
        },
    }
    rest = {name: schema for name, schema in properties.items() if name not in route.path_fields}
    if op.mutation:
        parameters.append(
            _parameter(
                "Idempotency-Key",
                "header",
                {"type": "string", "description": "Same as idempotencyKey in the body (both: they must agree)."},
                False,
            )
        )
        body = copy.deepcopy(input_schema) | {"properties": rest}
        body["required"] = sorted(required - set(route.path_fields))
        if not body["required"]:
            del body["required"]
        body.pop("title", None)
        operation["requestBody"] = {
            "required": bool(body.get("required")),
            "content": {"application/json": {"schema": body}},
        }
    else:
        parameters += [_parameter(name, "query", schema, name in required) for name, schema in rest.items()]
    if parameters:
        operation["parameters"] = parameters
    return operation


def _events_operation(progress_ref: dict[str, Any]) -> dict[str, Any]:
    return {
        "operationId": "plan_progress_events",
        "summary": "A plan's live progress as server-sent events (event: progress, data: PlanProgressEvent); "
        "a snapshot first, the stream ends after the event with final: true; ': keep-alive' comments while idle.",
        "tags": ["plans"],
        "x-scope": "read",
        "parameters": [_parameter("id", "path", {"type": "string", "description": "Plan id (pln_…)."}, True)],
        "responses": {
            "200": {
                "description": "text/event-stream of PlanProgressEvent JSON.",
                "content": {"text/event-stream": {"x-itemSchema": progress_ref, "schema": {"type": "string"}}},
            },
            **{status: {"$ref": "#/components/responses/Error"} for status in ("401", "403", "404")},
        },
    }


@functools.cache
def document() -> dict[str, Any]:
    refs, defs = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        input_schema = defs[_name(refs[(route.op.input_model, "validation")])]
        output_ref = refs[(route.op.output_model, "serialization")]
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, input_schema, output_ref)
    paths[PLAN_EVENTS_PATH] = {"get": _events_operation(refs[(PlanProgressEvent, "serialization")])}
    error_ref = refs[(OperationError, "serialization")]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Herald REST API",
            "version": __version__,
            "description": "The same operations as the GraphQL door and the MCP tools: camelCase JSON, bearer keys "
            "with scopes, Idempotency-Key, dryRun, and one error body {error: {code, message, remediation, "
            f"recommendedNextAction}}}}. This document: {OPENAPI_PATH}.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "An API key."}},
            "responses": {
                "Error": {
                    "description": "A refusal: the structured error, the status fitting its code.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"error": error_ref},
                                "required": ["error"],
                            }
                        }
                    },
                }
            },
        },
    }
