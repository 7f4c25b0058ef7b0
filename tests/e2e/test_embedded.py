"""Embedded mode as `make run` starts it: SQLite, in-process worker, one port."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mcp import Client, StdioServerParameters

from server.operations import OPERATIONS
from tests.e2e import flows
from tests.support.live import ROOT, LiveHerald, herald_env, live_herald
from tests.support.receiver import Receiver

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # a live server per module


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHerald]:
    with live_herald(herald_env(tmp_path_factory.mktemp("embedded"))) as server:
        yield server


async def test_agent_over_mcp_gets_signed_delivery_and_receipt(live: LiveHerald, receiver: Receiver) -> None:
    outcome = await flows.mcp_webhook_delivery(live, receiver)
    print(f"awaitDelivery round trip, one webhook target (embedded): {outcome['await_ms']:.1f} ms")


def test_frontend_over_graphql_same_flow(live: LiveHerald, receiver: Receiver) -> None:
    flows.graphql_webhook_delivery(live, receiver)


def test_429_pauses_only_that_target(live: LiveHerald, receiver: Receiver) -> None:
    flows.rate_limited_target_is_left_alone(live, receiver)


@pytest.mark.parametrize("path", ["/graphql", "/mcp"])
def test_missing_or_wrong_key_is_401_with_how_to(live: LiveHerald, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer hk_wrong"}):
        response = httpx.post(live.url + path, json={"query": "{ __typename }"}, headers=headers)
        assert response.status_code == 401
        body = response.json()
        error = body["errors"][0]["extensions"] if path == "/graphql" else body["error"]
        assert error["code"] == "UNAUTHORIZED"
        assert "herald keys create" in error["remediation"]


def test_healthz_and_graphiql_page(live: LiveHerald) -> None:
    assert httpx.get(live.url + "/healthz").json()["mode"] == "embedded"
    page = httpx.get(live.url + "/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


async def test_stdio_mcp_with_api_key(live: LiveHerald) -> None:
    env = {**live.env, "HERALD_API_KEY": live.key}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "server.cli", "mcp", "--no-worker"], env=env, cwd=str(ROOT)
    )
    async with Client(params) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        listed = await client.call_tool("list_distribution_targets", {"limit": 5})
    assert tools == {op.tool for op in OPERATIONS}
    assert not listed.is_error
    over_graphql = live.graphql("{ distributionTargets(limit: 5) { ... on TargetList { items { id name } } } }")
    items = json.loads(listed.content[0].text)["items"]
    assert [(t["id"], t["name"]) for t in items] == [
        (t["id"], t["name"]) for t in over_graphql["distributionTargets"]["items"]
    ]


def run_example(live: LiveHerald, script: str) -> str:
    env = {**live.env, "HERALD_URL": live.url, "HERALD_API_KEY": live.key}
    out = subprocess.run(
        [sys.executable, f"agent_examples/{script}"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_agent_example_follows_hints_to_delivery(live: LiveHerald) -> None:
    out = run_example(live, "mcp_agent.py")
    assert "-> update_distribution_target: ok; next: retry_failed_jobs" in out
    assert out.strip().endswith("succeeded")


def test_graphql_client_example(live: LiveHerald) -> None:
    out = run_example(live, "graphql_client.py")
    assert ": deliver " in out
    assert "DELIVERED after 1 attempt(s)" in out


def test_example_configs_are_valid_json() -> None:
    for name in ("mcp_http.json", "claude_desktop_stdio.json"):
        config = json.loads(Path(ROOT, "agent_examples", name).read_text())
        assert "herald" in config["mcpServers"]
