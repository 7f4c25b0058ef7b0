"""The public contract: the three doors (GraphQL, MCP, REST) expose every operation with the same arguments,
and the exported schema files (schema.graphql, tools.json, openapi.json) match what the code generates (a
change must be deliberate)."""

from __future__ import annotations

import json

import pytest
from graphql import GraphQLEnumType, GraphQLNonNull, GraphQLObjectType, get_named_type

from graphql_schema.export import SCHEMA_FILE, sdl
from graphql_schema.schema import schema
from mcp_tools.export import TOOLS_FILE, render, tool_list
from rest_api import export as rest_export
from rest_api.openapi import document
from rest_api.routes import ROUTES, missing_routes
from server.jobs.status import JobStatus, PlanStatus
from server.operations import OPERATIONS
from tests.support.rest import V1_ROUTES

CONTRACT = {
    "create_distribution_target": "createDistributionTarget",
    "list_distribution_targets": "distributionTargets",
    "get_distribution_target": "distributionTarget",
    "update_distribution_target": "updateDistributionTarget",
    "pause_distribution_target": "pauseDistributionTarget",
    "resume_distribution_target": "resumeDistributionTarget",
    "test_distribution_target": "testDistributionTarget",
    "create_distribution_plan": "createDistributionPlan",
    "get_distribution_plan": "distributionPlan",
    "list_distribution_plans": "distributionPlans",
    "cancel_distribution_plan": "cancelDistributionPlan",
    "retry_failed_jobs": "retryFailedJobs",
    "replay_dead_letters": "replayDeadLetters",
    "upsert_recipients": "upsertRecipients",
    "list_recipients": "recipients",
    "get_recipient": "recipient",
    "delete_recipients": "deleteRecipients",
    "unsubscribe_recipient": "unsubscribeRecipient",
    "list_channels": "channels",
}


@pytest.fixture(scope="module")
def mcp_tools() -> dict[str, dict]:
    import asyncio

    return {tool["name"]: tool for tool in asyncio.run(tool_list())}


def graphql_field(name: str):  # type: ignore[no-untyped-def]
    gql = schema._schema
    return gql.query_type.fields.get(name) or gql.mutation_type.fields.get(name)


def test_architecture_contract_names_exist_on_both_doors(mcp_tools: dict[str, dict]) -> None:
    for tool, field in CONTRACT.items():
        assert tool in mcp_tools, f"MCP door lacks {tool}"
        assert graphql_field(field) is not None, f"GraphQL door lacks {field}"


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.tool)
def test_same_arguments_and_requiredness_on_both_doors(op, mcp_tools: dict[str, dict]) -> None:  # type: ignore[no-untyped-def]
    tool = mcp_tools[op.tool]
    mcp_args = set(tool["inputSchema"]["properties"])
    mcp_required = set(tool["inputSchema"].get("required", []))
    field = graphql_field(op.graphql)
    gql_args = set(field.args)
    gql_required = {name for name, arg in field.args.items() if isinstance(arg.type, GraphQLNonNull)}
    assert mcp_args == gql_args
    assert mcp_required == gql_required
    if op.mutation:
        assert {"dryRun", "idempotencyKey"} <= mcp_args
    root = schema._schema.mutation_type if op.mutation else schema._schema.query_type
    assert op.graphql in root.fields


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.tool)
def test_same_outcome_shape_on_both_doors(op, mcp_tools: dict[str, dict]) -> None:  # type: ignore[no-untyped-def]
    output = set(mcp_tools[op.tool]["outputSchema"]["properties"])
    union = get_named_type(graphql_field(op.graphql).type)
    payload, error = union.types
    assert set(payload.fields) == output
    assert error.name == "OperationError"
    assert "recommendedNextAction" in output


def test_exported_graphql_schema_is_current(snapshot) -> None:  # type: ignore[no-untyped-def]
    generated = sdl()
    assert generated == snapshot
    assert SCHEMA_FILE.read_text() == generated, "schema.graphql is stale: run `make export` and commit it"


def test_exported_mcp_tool_list_is_current(mcp_tools: dict[str, dict], snapshot) -> None:  # type: ignore[no-untyped-def]
    generated = render(list(mcp_tools.values()))
    assert json.loads(generated) == snapshot
    assert TOOLS_FILE.read_text() == generated, "tools.json is stale: run `make export` and commit it"


def test_every_tool_has_annotations_and_structured_output(mcp_tools: dict[str, dict]) -> None:
    for op in OPERATIONS:
        tool = mcp_tools[op.tool]
        annotations = tool["annotations"]
        assert annotations["readOnlyHint"] is (not op.mutation)
        assert annotations["destructiveHint"] is op.destructive
        assert annotations["openWorldHint"] is op.open_world
        assert tool["outputSchema"]["type"] == "object"
        assert tool["description"] == op.summary


def _resolve(schema: dict, root: dict) -> dict:
    """A property schema with its $ref and a nullable anyOf unwrapped."""
    if "$ref" in schema:
        return _resolve(root["$defs"][schema["$ref"].rsplit("/", 1)[-1]], root)
    options = [option for option in schema.get("anyOf", []) if option.get("type") != "null"]
    return _resolve(options[0], root) if len(options) == 1 else schema


def _enum_values(schema: dict, root: dict) -> list[str] | None:
    resolved = _resolve(schema, root)
    if resolved.get("type") == "array":
        resolved = _resolve(resolved["items"], root)
    return resolved.get("enum")


def _graphql_enum(type_):  # type: ignore[no-untyped-def]
    named = get_named_type(type_)
    return named if isinstance(named, GraphQLEnumType) else None


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.tool)
def test_same_enums_on_both_doors(op, mcp_tools: dict[str, dict]) -> None:  # type: ignore[no-untyped-def]
    """An MCP argument with a JSON-schema enum is a GraphQL enum of the same values, named by member."""
    schema = mcp_tools[op.tool]["inputSchema"]
    for name, arg in graphql_field(op.graphql).args.items():
        values = _enum_values(schema["properties"][name], schema)
        enum = _graphql_enum(arg.type)
        if values is None or name == "scopes":  # scopes: a Literal, a plain string list on GraphQL
            assert enum is None, name
            continue
        assert enum is not None, name
        assert {value.value: key for key, value in enum.values.items()} == {v: v.upper() for v in values}


def test_statuses_error_classes_and_channels_are_enums_on_both_doors(mcp_tools: dict[str, dict]) -> None:
    plan_out = mcp_tools["get_distribution_plan"]["outputSchema"]
    job = plan_out["$defs"]["JobRead"]["properties"]
    assert _enum_values(job["status"], plan_out) == [s.value for s in JobStatus]
    assert _enum_values(job["errorClass"], plan_out) == ["transient", "rate_limited", "permanent", "systemic"]
    assert _enum_values(plan_out["$defs"]["PlanRead"]["properties"]["status"], plan_out) == [
        s.value for s in PlanStatus
    ]
    target_in = mcp_tools["create_distribution_target"]["inputSchema"]
    assert _enum_values(target_in["properties"]["channel"], target_in) == [
        "webhook", "http", "stub", "discord", "telegram", "whatsapp", "slack", "mastodon", "bluesky", "gdrive", "feed",
        "email",
    ]  # fmt: skip
    gql = schema._schema
    assert str(gql.get_type("Job").fields["status"].type) == "JobStatus!"
    assert str(gql.get_type("Job").fields["errorClass"].type) == "ErrorClass"
    assert str(gql.get_type("Plan").fields["status"].type) == "PlanStatus!"
    assert str(gql.get_type("Target").fields["channel"].type) == "ChannelName!"
    assert str(graphql_field("distributionPlans").args["status"].type) == "PlanStatus"
    assert str(graphql_field("deadLetters").args["errorClass"].type) == "ErrorClass"
    assert list(gql.get_type("ErrorClass").values) == ["TRANSIENT", "RATE_LIMITED", "PERMANENT", "SYSTEMIC"]


ID_NAMES = {"id", "requestId", "principal"}
# The caller's id of a content item, and an audit entry's principal label ("name (key_…)").
NOT_IDS = {("Content", "id"), ("Audit", "principal")}


def _is_id_name(name: str) -> bool:
    return name in ID_NAMES or name.endswith(("Id", "Ids")) and name not in ("externalId", "externalIds", "contentId")


def test_resource_ids_are_the_id_scalar() -> None:
    """Every id of a Herald resource, argument or field, is ID; content ids and provider ids stay String."""
    gql = schema._schema
    checked = 0
    for field_name, field in {**gql.query_type.fields, **gql.mutation_type.fields}.items():
        for name, arg in field.args.items():
            if _is_id_name(name):
                assert get_named_type(arg.type).name == "ID", (field_name, name)
                checked += 1
    for type_ in gql.type_map.values():
        if isinstance(type_, GraphQLObjectType) and not type_.name.startswith("__"):
            for name, field in type_.fields.items():
                if _is_id_name(name) and (type_.name, name) not in NOT_IDS:
                    assert get_named_type(field.type).name == "ID", (type_.name, name)
                    checked += 1
    assert checked > 40
    assert str(gql.get_type("Content").fields["id"].type) == "String!"
    assert str(gql.get_type("Audit").fields["principal"].type) == "String!"


def _titles(node: object, path: str = "") -> list[str]:
    """Paths of every property that carries a title (a model's own title is fine)."""
    found: list[str] = []
    if isinstance(node, dict):
        for name, prop in node.get("properties", {}).items():
            if isinstance(prop, dict) and "title" in prop:
                found.append(f"{path}/{name}")
        for key, value in node.items():
            found += _titles(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _titles(value, f"{path}/{i}")
    return found


def test_mcp_schemas_carry_no_generated_field_titles(mcp_tools: dict[str, dict]) -> None:
    for tool in mcp_tools.values():
        assert _titles(tool["inputSchema"]) == [], tool["name"]
        assert _titles(tool["outputSchema"]) == [], tool["name"]
    plan_in = mcp_tools["create_distribution_plan"]["inputSchema"]
    assert plan_in["title"] == "CreatePlanInput"
    assert plan_in["properties"]["awaitDelivery"] == {
        "default": False,
        "description": "Wait until every job is final (or the timeout) before answering.",
        "type": "boolean",
    }


def test_every_operation_has_a_rest_route() -> None:
    assert missing_routes() == []
    assert len({(route.method, route.path) for route in ROUTES}) == len(ROUTES)


def test_the_rfc_routes_exist_as_named() -> None:
    aliases = {(route.method, route.path): route.tool for route in ROUTES if route.alias}
    assert aliases == {
        ("POST", "/api/distribution/targets"): "create_distribution_target",
        ("POST", "/api/distribution/plans"): "create_distribution_plan",
        ("GET", "/api/distribution/plans/{id}"): "get_distribution_plan",
    }


def _rest_arguments(spec: dict, path: str, method: str) -> tuple[set[str], set[str]]:
    """(every argument, the required ones) of one REST operation: path, query and body together."""
    operation = spec["paths"][path][method.lower()]
    names, required = set(), set()
    for parameter in operation.get("parameters", []):
        if parameter["in"] != "header":
            names.add(parameter["name"])
            if parameter["required"]:
                required.add(parameter["name"])
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    names |= set(body.get("properties", {}))
    required |= set(body.get("required", []))
    return names, required


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: f"{route.method} {route.path}")
def test_same_arguments_and_outcome_on_rest(route, mcp_tools: dict[str, dict]) -> None:  # type: ignore[no-untyped-def]
    """REST takes the MCP tool's arguments (a path parameter is required where the tool's id may be optional:
    get_recipient, whose externalId twin is a query parameter) and answers its output model."""
    spec = document()
    tool = mcp_tools[route.tool]
    names, required = _rest_arguments(spec, route.path, route.method)
    assert names == set(tool["inputSchema"]["properties"])
    assert required - set(tool["inputSchema"].get("required", [])) <= set(route.path_fields)
    assert set(tool["inputSchema"].get("required", [])) <= required
    operation = spec["paths"][route.path][route.method.lower()]
    assert operation["operationId"] == route.operation_id
    assert operation["x-scope"] == route.op.scope
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    output = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    assert set(output["properties"]) == set(tool["outputSchema"]["properties"])
    assert route.op.mutation == (route.method != "GET")
    if route.op.mutation:
        assert {"dryRun", "idempotencyKey"} <= names
        assert "Idempotency-Key" in {p["name"] for p in operation["parameters"] if p["in"] == "header"}


def test_operation_ids_are_the_mcp_tool_names(mcp_tools: dict[str, dict]) -> None:
    spec = document()
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    assert {V1_ROUTES[tool].operation_id for tool in mcp_tools} == set(mcp_tools)
    assert set(ids) == set(mcp_tools) | {f"{r.tool}_rfc" for r in ROUTES if r.alias} | {"plan_progress_events"}


def test_openapi_document_is_valid_openapi_3_1() -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    spec = document()
    validate(spec)
    assert spec["openapi"] == "3.1.0"
    assert spec["components"]["securitySchemes"] == {
        "bearer": {"type": "http", "scheme": "bearer", "description": "An API key."}
    }
    assert spec["security"] == [{"bearer": []}]
    target = spec["components"]["schemas"]["CreateTargetInput"]
    assert {"retryPolicy", "fallbackTargetId", "dryRun", "idempotencyKey"} <= set(target["properties"])
    broken = {**spec, "paths": {"/x": {"get": {"responses": {"200": {"description": 1}}}}}}
    with pytest.raises(OpenAPIValidationError):  # the validator does refuse a broken document
        validate(broken)


def test_exported_openapi_document_is_current(snapshot) -> None:  # type: ignore[no-untyped-def]
    generated = rest_export.render(document())
    assert json.loads(generated) == snapshot
    assert rest_export.OPENAPI_FILE.read_text() == generated, "openapi.json is stale: run `make export` and commit it"
