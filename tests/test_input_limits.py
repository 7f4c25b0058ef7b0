"""Input limits with clear codes, and a property-based fuzz of both doors (10,000+ calls)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from starlette.testclient import TestClient

from mcp_tools.server import build_mcp_server, fixed_principal
from server.app import create_app
from server.keys.service import authenticate, create_key
from server.operations import OPERATIONS
from tests.support import factories
from tests.support.gql import document

FUZZ_CALLS_PER_DOOR = 5000
CALLS: dict[str, int] = {"mcp": 0, "graphql": 0}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(
        factories.test_settings(tmp_path_factory.mktemp("limits"), max_request_bytes=20_000, graphql_max_depth=3)
    )
    with TestClient(app, base_url="http://127.0.0.1:8000") as test_client:
        key = create_key(app.state.runtime, "fuzz")
        test_client.headers["Authorization"] = f"Bearer {key.secret}"
        yield test_client


def post(client: TestClient, query: str) -> Any:
    return client.post("/graphql", json={"query": query})


def test_body_size_limit_is_413_with_code(client: TestClient) -> None:
    response = client.post(
        "/graphql", content=b'{"query": "' + b"x" * 30_000 + b'"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert [error["extensions"]["code"] for error in response.json()["errors"]] == ["PAYLOAD_TOO_LARGE"]
    mcp = client.post("/mcp", content=b"x" * 30_000, headers={"content-type": "application/json"})
    assert mcp.status_code == 413
    assert mcp.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_depth_alias_and_size_limits_have_codes(client: TestClient) -> None:
    shallow = "{ distributionPlans { ... on PlanList { items { counts { total } } } } }"
    assert "errors" not in post(client, shallow).json()
    deep = '{ distributionPlan(id: "pln_x") { ... on PlanResult { plan { jobs { receipt { id } } } } } }'
    assert post(client, deep).json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_DEEP"
    aliases = "{ " + " ".join(f"a{i}: distributionTargets {{ __typename }}" for i in range(31)) + " }"
    assert post(client, aliases).json()["errors"][0]["extensions"]["code"] == "TOO_MANY_ALIASES"
    big = "{ " + "a " * 5100 + "}"
    assert post(client, big).json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_LARGE"
    unknown = post(client, "{ nope }").json()["errors"][0]
    assert unknown["extensions"]["code"] == "GRAPHQL_VALIDATION_ERROR"


def test_list_and_content_size_limits(client: TestClient) -> None:
    too_many = document(
        next(op for op in OPERATIONS if op.tool == "create_distribution_plan"),
        {"content": factories.content(), "targetIds": [f"tgt_{i}" for i in range(101)]},
    )
    result = post(client, too_many).json()["data"]["createDistributionPlan"]
    assert (result["code"], result["field"]) == ("VALIDATION_ERROR", "targetIds")
    huge = document(
        next(op for op in OPERATIONS if op.tool == "create_distribution_plan"),
        {"content": factories.content(title="t" * 501), "targetIds": ["tgt_x"]},
    )
    result = post(client, huge).json()["data"]["createDistributionPlan"]
    assert (result["code"], result["field"]) == ("VALIDATION_ERROR", "content.title")


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
ID_LIKE = st.sampled_from(["tgt_", "pln_", "job_", "dlq_", "key_", ""]).flatmap(
    lambda p: st.text(max_size=20).map(lambda s: p + s)
)


@st.composite
def calls(draw: st.DrawFn) -> tuple[Any, dict[str, Any]]:
    op = draw(st.sampled_from(OPERATIONS))
    names = [field.alias or name for name, field in op.input_model.model_fields.items()]
    chosen = draw(st.lists(st.sampled_from(names + ["unexpected"]), unique=True, max_size=len(names) + 1))
    return op, {name: draw(ID_LIKE if name in ("id", "planId", "targetId") else JSON) for name in chosen}


@pytest.fixture(scope="module")
def mcp_principal(client: TestClient):  # type: ignore[no-untyped-def]
    rt = client.app.state.runtime  # type: ignore[attr-defined]
    return rt, authenticate(rt, f"Bearer {create_key(rt, 'fuzz-mcp').secret}")


@pytest.mark.slow  # the fuzz: thousands of calls
@pytest.mark.heavy
@settings(
    max_examples=FUZZ_CALLS_PER_DOOR,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(call=calls())
def test_fuzz_graphql_over_http(
    client: TestClient, caplog: pytest.LogCaptureFixture, call: tuple[Any, dict[str, Any]]
) -> None:
    op, arguments = call
    CALLS["graphql"] += 1
    response = post(client, document(op, arguments))
    assert response.status_code < 500
    # No crash in the log: a refusal is one INFO line, never a traceback.
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == [], (op.tool, arguments)
    body = response.json()
    if "errors" in body:
        codes = {error["extensions"]["code"] for error in body["errors"]}
        assert "INTERNAL_ERROR" not in codes, body
        return
    payload = body["data"][op.graphql]
    if payload["__typename"] == "OperationError":
        assert payload["code"] not in ("INTERNAL_ERROR", None) and payload["message"]


@pytest.mark.slow
@pytest.mark.heavy
def test_fuzz_mcp_tools(mcp_principal, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    rt, principal = mcp_principal
    examples: list[tuple[Any, dict[str, Any]]] = []

    @settings(
        max_examples=FUZZ_CALLS_PER_DOOR,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(call=calls())
    def collect(call: tuple[Any, dict[str, Any]]) -> None:
        examples.append(call)

    collect()

    async def run() -> None:
        async with Client(build_mcp_server(rt, fixed_principal(principal))) as mcp:
            for op, arguments in examples:
                CALLS["mcp"] += 1
                result = await mcp.call_tool(op.tool, arguments)
                if result.is_error:
                    body = result.structured_content
                    assert body is not None and body["code"] not in ("INTERNAL_ERROR", None), (
                        op.tool,
                        arguments,
                        result,
                    )
                    assert body["recommendedNextAction"] is not None

    started = time.monotonic()
    anyio.run(run)
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
    print(
        f"\nfuzz: {CALLS['graphql']} GraphQL calls over HTTP + {CALLS['mcp']} MCP calls; "
        f"MCP part {time.monotonic() - started:.1f}s"
    )
    assert CALLS["mcp"] + CALLS["graphql"] >= 2 * FUZZ_CALLS_PER_DOOR - 10 or CALLS["mcp"] >= FUZZ_CALLS_PER_DOOR - 5
