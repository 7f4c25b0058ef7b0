"""The public contract: both doors expose every operation with the same arguments, and the
exported schema files match what the code generates (a change must be deliberate)."""

from __future__ import annotations

import json

import pytest
from graphql import GraphQLNonNull, get_named_type

from graphql_schema.export import SCHEMA_FILE, sdl
from graphql_schema.schema import schema
from mcp_tools.export import TOOLS_FILE, render, tool_list
from server.operations import OPERATIONS

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
