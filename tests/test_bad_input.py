"""Bad input on every door: refused with a clear code, nothing done, never an internal error or a traceback.

Exact cases first (a misspelt ``dry_run``, unknown and nested unknown fields, naive timestamps, huge and
invalid strings, malformed bodies, the GraphQL 401, a genuine fault's request id), then a property-based
fuzz of those classes on MCP in memory, MCP over HTTP and GraphQL over HTTP.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from pydantic.alias_generators import to_snake
from starlette.testclient import TestClient

from graphql_schema.schema import schema
from graphql_schema.types import graphql_values
from mcp_tools.server import build_mcp_server, fixed_principal
from server.app import create_app
from server.dispatch import execute
from server.errors import ValidationFailed
from server.keys.service import authenticate, create_key
from server.operations import BY_TOOL, OPERATIONS, Operation
from server.wire import FILTER_MAX
from tests.support import factories
from tests.support.doors import doors
from tests.support.gql import document
from tests.support.receiver import Receiver

pytestmark = pytest.mark.anyio

NAIVE = "2026-06-01T10:00:00"
MCP_ACCEPT = "application/json, text/event-stream"


def fields_of(op: Operation) -> list[str]:
    return [field.alias or name for name, field in op.input_model.model_fields.items()]


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Log records that are crashes: an ERROR or worse, or any record with a traceback."""
    return [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


# --- a misspelt dryRun never sends -------------------------------------------------------------------


async def test_misspelt_dry_run_is_refused_naming_dry_run_and_sends_nothing(tmp_path: Path, receiver: Receiver) -> None:
    async with doors(tmp_path) as d:
        target = await factories.webhook_target(d, receiver.url + "/hook")
        before = d.counts()
        content = factories.content()
        error = await d.error(
            "create_distribution_plan", content=content, targetIds=[target], dry_run=True, awaitDelivery=True
        )
        assert error["code"] == "VALIDATION_ERROR"
        assert error["field"] == "dry_run"
        assert "unknown field 'dry_run' (did you mean 'dryRun'?)" in error["message"]
        # The hint is the same call spelt right: a dry run.
        action = error["recommendedNextAction"]
        assert action["tool"] == "create_distribution_plan"
        assert action["arguments"] == {
            "content": content,
            "targetIds": [target],
            "dryRun": True,
            "awaitDelivery": True,
        }
        assert d.counts() == before
        assert before["distribution_plans"] == 0 and before["distribution_jobs"] == 0
        assert receiver.requests == []
        # Following the hint previews and still sends nothing.
        preview = await d.ok(action["tool"], **action["arguments"])
        assert preview["dryRun"] is True and preview["plan"] is None
        assert d.counts()["distribution_plans"] == 0
        assert receiver.requests == []


async def test_a_refusal_is_one_info_line_with_its_code_and_request_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with doors(tmp_path) as d:
        error = await d.error("list_dead_letters", since=NAIVE)
    lines = [r for r in caplog.records if "refused" in r.getMessage()]
    assert [(r.levelno, r.getMessage()) for r in lines] == [
        (logging.INFO, f"request {error['requestId']} refused: VALIDATION_ERROR list_dead_letters (field since)")
    ]
    assert tracebacks(caplog) == []


async def test_nested_unknown_field_names_the_path_and_the_near_miss(tmp_path: Path) -> None:
    async with doors(tmp_path) as d:
        before = d.counts()
        content = {**factories.content(), "titel": "x"}
        del content["title"]
        error = await d.error("create_distribution_plan", content=content, targetIds=["tgt_x"])
        assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "content.titel")
        assert "content.titel: unknown field 'titel' (did you mean 'title'?)" in error["message"]
        assert "content.title: Field required" in error["message"]
        assert d.counts() == before


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.tool)
async def test_every_tool_refuses_an_unknown_argument(tmp_path: Path, op: Operation) -> None:
    async with doors(tmp_path) as d:
        before = d.counts()
        error = await d.error(op.tool, bogusArgument=1)
        assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "bogusArgument")
        assert "unknown field 'bogusArgument'" in error["message"]
        assert d.counts() == before


async def test_published_input_schemas_refuse_what_the_tools_refuse(tmp_path: Path) -> None:
    async with doors(tmp_path) as d:
        tools = {tool.name: tool for tool in (await d.mcp.list_tools()).tools}
    assert set(tools) == {op.tool for op in OPERATIONS}
    for op in OPERATIONS:
        schema = tools[op.tool].input_schema
        assert schema["additionalProperties"] is False, op.tool
        assert set(schema["properties"]) == set(fields_of(op)), op.tool
        for name, model in schema.get("$defs", {}).items():
            if "properties" in model:
                assert model["additionalProperties"] is False, (op.tool, name)


# --- every input checked before storage ------------------------------------------------------------


def _bounded(schema: dict[str, Any], defs: dict[str, Any], path: str, seen: tuple[str, ...] = ()) -> Iterator[str]:
    """Paths of strings without a length cap and numbers without both bounds in an input schema."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            yield from _bounded(defs[name], defs, path, (*seen, name))
        return
    for sub in schema.get("anyOf", []):
        yield from _bounded(sub, defs, path, seen)
    kind = schema.get("type")
    if kind == "string" and not {"maxLength", "enum", "const"} & schema.keys() and schema.get("format") != "date-time":
        yield path
    if kind in ("integer", "number") and not (
        {"maximum", "exclusiveMaximum"} & schema.keys() and {"minimum", "exclusiveMinimum"} & schema.keys()
    ):
        yield path
    for name, prop in schema.get("properties", {}).items():
        yield from _bounded(prop, defs, f"{path}.{name}", seen)
    if "items" in schema:
        yield from _bounded(schema["items"], defs, f"{path}[]", seen)


def test_every_input_string_is_capped_and_every_number_bounded() -> None:
    unbounded = []
    for op in OPERATIONS:
        schema = op.input_model.model_json_schema(by_alias=True)
        unbounded += _bounded(schema, schema.get("$defs", {}), op.tool)
    assert unbounded == []


def _timestamp_fields(op: Operation) -> list[str]:
    schema = op.input_model.model_json_schema(by_alias=True)
    return [
        name
        for name, prop in schema["properties"].items()
        if any(option.get("format") == "date-time" for option in [prop, *prop.get("anyOf", [])])
    ]


TIMESTAMPS = [(op, name) for op in OPERATIONS for name in _timestamp_fields(op)]


def test_the_timestamp_fields_are_the_known_ones() -> None:
    assert sorted(f"{op.tool}.{name}" for op, name in TIMESTAMPS) == [
        "backfill_distribution_schedule.endAt",
        "backfill_distribution_schedule.startAt",
        "create_distribution_plan.scheduledAt",
        "create_distribution_schedule.endAt",
        "create_distribution_schedule.startAt",
        "list_audit_events.since",
        "list_audit_events.until",
        "list_dead_letters.since",
        "list_dead_letters.until",
        "list_operational_events.since",
        "list_operational_events.until",
        "replay_dead_letters.since",
        "replay_dead_letters.until",
        "update_distribution_schedule.endAt",
        "update_distribution_schedule.startAt",
    ]


@pytest.mark.parametrize(("op", "name"), TIMESTAMPS, ids=lambda v: v.tool if isinstance(v, Operation) else v)
async def test_a_timestamp_without_a_zone_is_refused_naming_the_field(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, op: Operation, name: str
) -> None:
    arguments: dict[str, Any] = {name: NAIVE}
    if op.tool == "create_distribution_plan":
        arguments |= {"content": factories.content(), "targetIds": ["tgt_x"]}
    if op.tool == "create_distribution_schedule":
        template = {"content": factories.content(), "targetIds": ["tgt_x"]}
        arguments |= {"name": "weekly", "cron": "0 8 * * 1", "timezone": "Europe/Berlin", "plan": template}
    if op.tool in ("update_distribution_schedule", "backfill_distribution_schedule"):
        arguments |= {"id": "sch_x"}
    if op.tool == "backfill_distribution_schedule":
        other = "endAt" if name == "startAt" else "startAt"
        arguments |= {other: NAIVE + "Z"}
    async with doors(tmp_path) as d:
        before = d.counts()
        error = await d.error(op.tool, **arguments)
        assert (error["code"], error["field"]) == ("VALIDATION_ERROR", name)
        assert f"{name}: a timestamp needs a time zone: add Z or an offset" in error["message"]
        assert d.counts() == before
        zoned = await d.call(op.tool, **{**arguments, name: NAIVE + "Z"})
        assert zoned.get("field") != name, zoned  # with a zone the same value is taken
    assert tracebacks(caplog) == []


STRING_FILTERS = [
    ("list_distribution_targets", "label"),
    ("list_audit_events", "operation"),
    ("list_audit_events", "principal"),
    ("list_audit_events", "outcome"),
    ("list_operational_events", "type"),
    ("list_dead_letters", "planId"),
]


@pytest.mark.parametrize(("tool", "name"), STRING_FILTERS)
async def test_huge_and_invalid_strings_in_filters_are_refused_naming_the_field(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, tool: str, name: str
) -> None:
    async with doors(tmp_path) as d:
        huge = await d.error(tool, **{name: "x" * 100_000})
        assert (huge["code"], huge["field"]) == ("VALIDATION_ERROR", name)
        assert "characters" in huge["message"]
        surrogate = await d.error(tool, **{name: "ab\ud800"})
        assert (surrogate["code"], surrogate["field"]) == ("VALIDATION_ERROR", name)
        assert "not valid Unicode" in surrogate["message"]
    assert tracebacks(caplog) == []


def test_filter_cap_is_a_thousand_characters() -> None:
    assert FILTER_MAX == 1_000
    model = BY_TOOL["list_distribution_targets"].input_model
    assert model.model_validate({"label": "x" * 1_000}).label == "x" * 1_000  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ({"a": float("nan")}, "not finite"),
        ({"a": float("inf")}, "not finite"),
        ({"a": 2**70}, "out of range"),
        ({"a\ud800": 1}, "not valid Unicode"),
        ({"a": {"b": "\udfff"}}, "not valid Unicode"),
        ({"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}, "nested more than"),
    ],
)
async def test_free_form_json_is_checked_too(tmp_path: Path, value: dict[str, Any], what: str) -> None:
    """Through the pipeline itself: an MCP client library cannot even send NaN or a lone surrogate key
    (it writes null or fails), but a hand-written JSON-RPC message or another client may."""
    rt = factories.runtime(tmp_path)
    try:
        principal, _ = factories.principal(rt)
        arguments = {"content": factories.content(metadata=value), "targetIds": ["tgt_x"]}
        with pytest.raises(ValidationFailed) as refused:
            await execute(rt, principal, "create_distribution_plan", arguments)
        assert refused.value.field is not None and refused.value.field.startswith("content.metadata.a")
        assert what in refused.value.message
    finally:
        rt.close()


# --- GraphQL and the HTTP doors ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(factories.test_settings(tmp_path_factory.mktemp("badinput"), max_request_bytes=300_000))
    with TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False) as test_client:
        key = create_key(app.state.runtime, "bad-input")
        test_client.headers["Authorization"] = f"Bearer {key.secret}"
        yield test_client


def gql(client: TestClient, query: str, variables: dict[str, Any] | None = None) -> Any:
    # ensure_ascii: a lone surrogate travels as the JSON escape \ud800, as a client would send it
    body = json.dumps({"query": query, "variables": variables}).encode()
    response = client.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    return response.json()


TARGETS_BY_LABEL = (
    "query($l: String) { distributionTargets(label: $l) { __typename ... on OperationError { code field message } } }"
)


@pytest.mark.parametrize(
    ("query", "variables", "says"),
    [
        (TARGETS_BY_LABEL, {"l": 1}, "Variable '$l' has invalid value: String cannot represent a non string value: 1"),
        (
            "query($n: Int) { distributionTargets(limit: $n) { __typename } }",
            {"n": "ten"},
            "Variable '$n' has invalid value: Int cannot represent non-integer value: 'ten'",
        ),
        (
            "query($n: Int!) { distributionTargets(limit: $n) { __typename } }",
            {"n": None},
            "Variable '$n' has invalid value: Expected value of non-null type 'Int!' not to be None.",
        ),
        (
            "query($s: DateTime) { deadLetters(since: $s) { __typename } }",
            {"s": "2026-06-01T10:00:00+99:00"},
            "Variable '$s' has invalid value: Value cannot represent a DateTime",
        ),
        (
            'query { distributionTargets(labl: "x") { __typename } }',
            None,
            "Unknown argument 'labl' on field 'Query.distributionTargets'. Did you mean 'label'?",
        ),
        (
            'mutation { createDistributionPlan(dry_run: true, content: {id: "a", version: "1", title: "t", body: "b"})'
            " { __typename } }",
            None,
            "Unknown argument 'dry_run' on field 'Mutation.createDistributionPlan'. Did you mean 'dryRun'?",
        ),
    ],
)
def test_graphql_bad_variables_keep_their_message_and_get_a_code(
    client: TestClient, caplog: pytest.LogCaptureFixture, query: str, variables: Any, says: str
) -> None:
    caplog.set_level(logging.INFO)
    before = plan_count(client)
    [error] = gql(client, query, variables)["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_ERROR"
    assert error["message"].startswith(says), error["message"]
    assert tracebacks(caplog) == []
    refusals = [r.getMessage() for r in caplog.records if "refused: GRAPHQL_VALIDATION_ERROR" in r.getMessage()]
    assert len(refusals) == 1 and refusals[0].startswith("request req_")
    assert plan_count(client) == before


def plan_count(client: TestClient) -> int:
    from sqlmodel import func, select

    from server.db import session_scope
    from server.models import Plan

    with session_scope(client.app.state.runtime.engine) as session:  # type: ignore[attr-defined]
        return session.exec(select(func.count()).select_from(Plan)).one()


@pytest.mark.parametrize(
    ("label", "says"),
    [("x" * 100_000, "String should have at most 1000 characters"), ("a\ud800", "not valid Unicode")],
)
def test_graphql_huge_and_invalid_strings_are_validation_errors(
    client: TestClient, caplog: pytest.LogCaptureFixture, label: str, says: str
) -> None:
    payload = gql(client, TARGETS_BY_LABEL, {"l": label})["data"]["distributionTargets"]
    assert (payload["code"], payload["field"]) == ("VALIDATION_ERROR", "label")
    assert says in payload["message"]
    assert tracebacks(caplog) == []


def test_graphql_naive_timestamp_is_a_validation_error(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    query = "query($s: DateTime) { deadLetters(since: $s) { __typename ... on OperationError { code field message } } }"
    payload = gql(client, query, {"s": NAIVE})["data"]["deadLetters"]
    assert (payload["code"], payload["field"]) == ("VALIDATION_ERROR", "since")
    assert "add Z or an offset" in payload["message"]
    assert tracebacks(caplog) == []


def test_graphql_401_is_in_the_errors_shape(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    response = client.post("/graphql", json={"query": "{ __typename }"}, headers={"Authorization": "Bearer hk_wrong"})
    assert response.status_code == 401
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "UNAUTHORIZED"
    assert "herald keys create" in error["extensions"]["remediation"]
    assert error["extensions"]["requestId"].startswith("req_")
    assert tracebacks(caplog) == []
    assert any(
        f"request {error['extensions']['requestId']} refused: UNAUTHORIZED" in r.getMessage() for r in caplog.records
    )


def test_a_genuine_fault_is_masked_with_a_request_id_that_finds_the_traceback(
    client: TestClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import graphql_schema.schema

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(graphql_schema.schema, "execute", broken)
    [error] = gql(client, "{ distributionTargets { __typename } }")["errors"]
    assert error["message"] == "Internal error."
    assert error["extensions"]["code"] == "INTERNAL_ERROR"
    request_id = error["extensions"]["requestId"]
    [logged] = [r for r in caplog.records if r.exc_info]
    assert request_id in logged.getMessage() and logged.levelno == logging.ERROR
    assert "a bug" in str(logged.exc_info[1])  # type: ignore[index]


def test_a_fault_outside_the_resolvers_is_a_json_500_with_a_request_id(
    client: TestClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from graphql_schema.app import HeraldGraphQL

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug in the context")

    monkeypatch.setattr(HeraldGraphQL, "get_context", broken)
    response = client.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 500
    [error] = response.json()["errors"]
    request_id = error["extensions"]["requestId"]
    assert error["extensions"]["code"] == "INTERNAL_ERROR" and request_id in error["message"]
    [logged] = [r for r in caplog.records if r.exc_info]
    assert request_id in logged.getMessage()


MALFORMED = {
    "null": b"null",
    "string": b'"x"',
    "number": b"1",
    "true": b"true",
    "array": b"[]",
    "invalid-utf8": b'{"query": "\xff\xfe"}',
    "utf16": '{"query": "{ __typename }"}'.encode("utf-16"),
    "bom": '{"query": "{ __typename }"}'.encode("utf-8-sig"),
    "nan": b'{"query": "{ __typename }", "variables": {"a": NaN}}',
    "infinity": b'{"query": "{ __typename }", "variables": {"a": -Infinity}}',
    "deep": b'{"query": "x", "variables": {"a": ' + b"[" * 20_000 + b"]" * 20_000 + b"}}",
    "digits": b'{"query": "x", "variables": {"a": ' + b"9" * 5_000 + b"}}",
    "truncated": b'{"query": "{ __typename }"',
    "empty": b"",
    "query-not-string": b'{"query": 5}',
    "variables-not-object": b'{"query": "{ __typename }", "variables": [1]}',
}


@pytest.mark.parametrize("kind", MALFORMED)
def test_malformed_graphql_body_is_400_in_the_errors_shape(
    client: TestClient, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    caplog.set_level(logging.INFO)
    response = client.post("/graphql", content=MALFORMED[kind], headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "MALFORMED_REQUEST"
    assert error["message"] and "application/json" in error["extensions"]["remediation"]
    assert tracebacks(caplog) == []
    assert [r.levelno for r in caplog.records if "refused: MALFORMED_REQUEST" in r.getMessage()] == [logging.INFO]
    assert gql(client, "{ __typename }") == {"data": {"__typename": "Query"}}  # still serving


def test_malformed_graphql_get_variables_are_400_in_the_errors_shape(client: TestClient) -> None:
    response = client.get("/graphql", params={"query": "{ __typename }", "variables": "NaN"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "MALFORMED_REQUEST"


@pytest.mark.parametrize("kind", MALFORMED)
def test_malformed_mcp_body_is_400_with_a_jsonrpc_error(
    client: TestClient, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    response = client.post(
        "/mcp", content=MALFORMED[kind], headers={"content-type": "application/json", "accept": MCP_ACCEPT}
    )
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None
    assert isinstance(body["error"]["code"], int) and body["error"]["message"]
    assert tracebacks(caplog) == []


def test_mcp_plain_text_refusals_become_jsonrpc_errors(client: TestClient) -> None:
    response = client.post("/mcp", content=b"{}", headers={"content-type": "text/plain", "accept": MCP_ACCEPT})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"]["code"] == -32600 and body["error"]["data"]["code"] == "MALFORMED_REQUEST"
    assert body["error"]["message"] == "Invalid Content-Type header"


class McpHttp:
    """One MCP session over HTTP (streamable HTTP: JSON-RPC in, server-sent events out)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.headers = {"accept": MCP_ACCEPT, "content-type": "application/json"}
        started = self.post(
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "fuzz", "version": "1"},
                },
            }
        )
        self.headers["mcp-session-id"] = started.headers["mcp-session-id"]
        self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        self.next_id = 1

    def post(self, message: Any, allow_nan: bool = False) -> Any:
        body = json.dumps(message, allow_nan=allow_nan).encode()
        return self.client.post("/mcp", content=body, headers=self.headers)

    def call(self, tool: str, arguments: dict[str, Any], allow_nan: bool = False) -> tuple[int, Any]:
        self.next_id += 1
        response = self.post(
            {
                "jsonrpc": "2.0",
                "id": self.next_id,
                "method": "tools/call",
                "params": {"name": tool, "arguments": arguments},
            },
            allow_nan,
        )
        if response.status_code >= 400 or not response.text:
            return response.status_code, response.json() if response.text else None
        data = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
        return response.status_code, json.loads(data[-1]) if data else response.json()


def test_misspelt_dry_run_over_mcp_http_is_refused(client: TestClient) -> None:
    mcp = McpHttp(client)
    before = plan_count(client)
    status, message = mcp.call(
        "create_distribution_plan", {"content": factories.content(), "targetIds": ["tgt_x"], "dry_run": True}
    )
    assert status == 200
    result = message["result"]
    assert result["isError"] is True
    assert result["structuredContent"]["code"] == "VALIDATION_ERROR"
    assert "did you mean 'dryRun'?" in result["structuredContent"]["message"]
    assert plan_count(client) == before


# --- the fuzz -------------------------------------------------------------------------------------

FUZZ_CALLS_PER_DOOR = 300


def near_misses(name: str) -> list[str]:
    misses = [to_snake(name), name.lower(), name[:-1], name + "s", "_" + name]
    return [miss for miss in misses if miss != name]


BAD_STRINGS = st.one_of(
    st.just(NAIVE),
    st.just("2026-06-01T10:00:00+99:00"),
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3).map(lambda s: "a" + s),
    st.integers(FILTER_MAX + 1, 40_000).map(lambda n: "x" * n),
    st.text(max_size=20),
)
BAD_VALUES = st.one_of(
    BAD_STRINGS,
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
    st.integers(30, 60).map(lambda depth: json.loads("[" * depth + "]" * depth)),
    st.lists(BAD_STRINGS, max_size=3),
    st.dictionaries(st.text(max_size=8), BAD_STRINGS, max_size=3),
)


@st.composite
def bad_calls(draw: st.DrawFn) -> tuple[Operation, dict[str, Any], bool]:
    """A call mixing real argument names, their near misses and unknown names, with bad values.
    Returns (operation, arguments, whether a name in it is unknown)."""
    op = draw(st.sampled_from(OPERATIONS))
    names = fields_of(op)
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names))) if names else []
    unknown = draw(
        st.lists(st.sampled_from([m for n in names for m in near_misses(n)] + ["dry_run", "extra"]), max_size=2)
    )
    arguments = {name: draw(BAD_VALUES) for name in chosen + unknown}
    return op, arguments, any(name not in names for name in arguments)


def examples(count: int) -> list[tuple[Operation, dict[str, Any], bool]]:
    found: list[tuple[Operation, dict[str, Any], bool]] = []

    @settings(
        max_examples=count,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(call=bad_calls())
    def collect(call: tuple[Operation, dict[str, Any], bool]) -> None:
        found.append(call)

    collect()
    return found


def assert_refused_cleanly(body: dict[str, Any], unknown: bool, where: Any) -> None:
    assert body["code"] not in ("INTERNAL_ERROR", None), where
    assert body["message"] and not body["message"].startswith("Internal error"), where
    assert body["recommendedNextAction"] is not None, where
    if unknown:
        assert body["code"] == "VALIDATION_ERROR" and "unknown field" in body["message"], where


@pytest.mark.slow  # hundreds of calls per door
def test_fuzz_bad_input_on_mcp_in_memory(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    rt = client.app.state.runtime  # type: ignore[attr-defined]
    principal = authenticate(rt, f"Bearer {create_key(rt, 'fuzz-bad-mcp').secret}")
    calls = examples(FUZZ_CALLS_PER_DOOR)

    async def run() -> None:
        async with Client(build_mcp_server(rt, fixed_principal(principal))) as mcp:
            for op, arguments, unknown in calls:
                before = plan_count(client) if unknown else None
                result = await mcp.call_tool(op.tool, arguments)
                if unknown:
                    assert result.is_error, (op.tool, arguments)
                    assert plan_count(client) == before
                seen[(result.structured_content or {}).get("code", "ok") if result.is_error else "ok"] += 1
                if result.is_error:
                    assert result.structured_content is not None
                    assert_refused_cleanly(result.structured_content, unknown, (op.tool, arguments))

    seen: Counter[str] = Counter()
    anyio.run(run)
    print(f"\nMCP in memory, {len(calls)} calls: {dict(seen.most_common())}")
    assert tracebacks(caplog) == []


@pytest.mark.slow
def test_fuzz_bad_input_on_mcp_over_http(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    mcp = McpHttp(client)
    seen: Counter[str] = Counter()
    for op, arguments, unknown in examples(FUZZ_CALLS_PER_DOOR):
        status, message = mcp.call(op.tool, arguments) if _json_safe(arguments) else _raw(mcp, op, arguments)
        assert status < 500, (op.tool, arguments, message)
        if status >= 400:
            assert message["error"]["message"], message
            seen[f"HTTP {status}"] += 1
            continue
        result = message["result"]
        seen[result["structuredContent"]["code"] if result.get("isError") else "ok"] += 1
        if unknown:
            assert result["isError"], (op.tool, arguments)
        if result.get("isError"):
            assert_refused_cleanly(result["structuredContent"], unknown, (op.tool, arguments))
    print(f"\nMCP over HTTP, {FUZZ_CALLS_PER_DOOR} calls: {dict(seen.most_common())}")
    assert tracebacks(caplog) == []


def _json_safe(arguments: dict[str, Any]) -> bool:
    try:
        json.dumps(arguments, allow_nan=False)
    except ValueError:
        return False
    return True


def _raw(mcp: McpHttp, op: Operation, arguments: dict[str, Any]) -> tuple[int, Any]:
    """NaN and Infinity as a careless client writes them (not JSON; the transport takes them)."""
    return mcp.call(op.tool, arguments, allow_nan=True)


def with_variables(op: Operation, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The call as a client library writes it: each argument a variable of the argument's own type
    (an unknown name as JSON), so bad values meet variable coercion, where the issue found masking."""
    root = schema._schema.mutation_type if op.mutation else schema._schema.query_type
    assert root is not None
    declared = root.fields[op.graphql].args
    values = graphql_values(op.input_model, arguments)
    names = {name: f"v{index}" for index, name in enumerate(values)}
    definitions = ", ".join(f"${names[n]}: {declared[n].type if n in declared else 'JSON'}" for n in values)
    call_arguments = ", ".join(f"{n}: ${names[n]}" for n in values)
    call = f"{op.graphql}({call_arguments})" if values else op.graphql
    head = (
        f"{'mutation' if op.mutation else 'query'}({definitions})"
        if values
        else ("mutation" if op.mutation else "query")
    )
    query = f"{head} {{ {call} {{ __typename ... on OperationError {{ code message field }} }} }}"
    return query, {names[n]: value for n, value in values.items()}


@pytest.mark.slow
@pytest.mark.parametrize("style", ["literals", "variables"])
def test_fuzz_bad_input_on_graphql_over_http(client: TestClient, caplog: pytest.LogCaptureFixture, style: str) -> None:
    seen: Counter[str] = Counter()
    for op, arguments, unknown in examples(FUZZ_CALLS_PER_DOOR):
        if style == "literals":
            message: dict[str, Any] = {"query": document(op, arguments)}  # NaN becomes a bare name: a syntax error
        else:
            query, variables = with_variables(op, arguments)
            message = {"query": query, "variables": variables}
        body = json.dumps(message, allow_nan=True).encode()  # NaN as careless clients write it
        response = client.post("/graphql", content=body, headers={"content-type": "application/json"})
        assert response.status_code < 500, (op.tool, arguments, response.text)
        answer = response.json()
        if "errors" in answer:
            for error in answer["errors"]:
                seen[error["extensions"]["code"]] += 1
                assert error["extensions"]["code"] != "INTERNAL_ERROR", (op.tool, arguments, answer)
                assert error["message"] != "Internal error.", (op.tool, arguments, answer)
            if unknown:
                assert {e["extensions"]["code"] for e in answer["errors"]} <= {
                    "GRAPHQL_VALIDATION_ERROR",
                    "VALIDATION_ERROR",
                    "GRAPHQL_SYNTAX_ERROR",
                    "QUERY_TOO_LARGE",
                    "MALFORMED_REQUEST",
                }, answer
            continue
        assert not unknown, (op.tool, arguments, answer)
        payload = answer["data"][op.graphql]
        seen[payload.get("code") or "ok"] += 1
        if payload["__typename"] == "OperationError":
            assert payload["code"] != "INTERNAL_ERROR" and payload["message"], (op.tool, arguments, payload)
    print(f"\nGraphQL ({style}) over HTTP, {FUZZ_CALLS_PER_DOOR} calls: {dict(seen.most_common())}")
    assert tracebacks(caplog) == []
