"""The MCP door with the official SDK client, in memory, against a real embedded runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp import Client
from sqlmodel import func, select

from mcp_tools.server import build_mcp_server, fixed_principal
from server.db import session_scope
from server.models import AuditEvent, IdempotencyRecord, Job, Plan, Target
from server.runtime import Runtime
from tasks.worker import DeliveryWorker
from tests.support import factories

pytestmark = pytest.mark.anyio


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[Client, Runtime]]:
    rt = factories.runtime(tmp_path)
    principal, _ = factories.principal(rt)
    worker = DeliveryWorker(rt)
    worker.start()
    try:
        async with Client(build_mcp_server(rt, fixed_principal(principal))) as client:
            yield client, rt
    finally:
        worker.stop()
        rt.close()


def rows(rt: Runtime, model: type) -> int:
    with session_scope(rt.engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


async def create_stub(client: Client, name: str = "stub-a", **config: object) -> str:
    result = await client.call_tool("create_distribution_target", {"name": name, "channel": "stub", "config": config})
    assert not result.is_error, result.structured_content
    return result.structured_content["target"]["id"]


async def test_tools_have_honest_annotations(env: tuple[Client, Runtime]) -> None:
    client, _ = env
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert tools["get_distribution_plan"].annotations.read_only_hint is True
    assert tools["list_distribution_targets"].annotations.read_only_hint is True
    assert tools["cancel_distribution_plan"].annotations.destructive_hint is True
    assert tools["create_distribution_plan"].annotations.open_world_hint is True
    assert tools["create_distribution_plan"].annotations.read_only_hint is False
    schema = tools["create_distribution_plan"].input_schema
    assert {"content", "targetIds", "dryRun", "idempotencyKey", "awaitDelivery", "awaitTimeoutSeconds"} <= set(
        schema["properties"]
    )
    assert schema["required"] == ["content"]


async def test_create_plan_awaits_delivery_with_receipt_and_progress(env: tuple[Client, Runtime]) -> None:
    client, _ = env
    target_id = await create_stub(client)
    progress: list[tuple[float, float | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total))

    result = await client.call_tool(
        "create_distribution_plan",
        {"content": factories.content(), "targetIds": [target_id], "awaitDelivery": True, "idempotencyKey": "k1"},
        progress_callback=on_progress,
    )
    body = result.structured_content
    assert not result.is_error
    assert body["plan"]["status"] == "succeeded"
    job = body["plan"]["jobs"][0]
    assert job["status"] == "delivered" and job["attempts"] == 1
    assert job["receipt"]["externalId"] == f"stub_{job['id']}"
    assert body["timedOut"] is False
    assert body["recommendedNextAction"]["tool"] is None
    assert progress[-1] == (1, 1)


async def test_dry_run_previews_and_writes_nothing(env: tuple[Client, Runtime]) -> None:
    client, rt = env
    target_id = await create_stub(client)
    before = {m: rows(rt, m) for m in (Plan, Job, IdempotencyRecord, AuditEvent, Target)}
    result = await client.call_tool(
        "create_distribution_plan",
        {
            "content": factories.content(id="n1", body="x" * 50),
            "targetIds": [target_id],
            "dryRun": True,
            "idempotencyKey": "dry-1",
            "policy": {"maxLength": 10},
        },
    )
    body = result.structured_content
    assert body["dryRun"] is True and body["plan"] is None
    preview = body["preview"]["targets"][0]
    assert preview["verdict"] == "deliver"
    assert preview["payload"]["data"]["body"] == "x" * 9 + "…"
    hint = body["recommendedNextAction"]
    assert hint["tool"] == "create_distribution_plan" and hint["graphql"] == "createDistributionPlan"
    assert "dryRun" not in hint["arguments"] and hint["arguments"]["targetIds"] == [target_id]
    assert {m: rows(rt, m) for m in before} == before


async def test_idempotent_replay_and_reuse(env: tuple[Client, Runtime]) -> None:
    client, rt = env
    target_id = await create_stub(client)
    args = {"content": factories.content(id="same"), "targetIds": [target_id], "idempotencyKey": "plan-key"}
    first = (await client.call_tool("create_distribution_plan", args)).structured_content
    again = (await client.call_tool("create_distribution_plan", args)).structured_content
    assert again["replayed"] is True and again["plan"]["id"] == first["plan"]["id"]
    assert rows(rt, Plan) == 1
    changed = await client.call_tool("create_distribution_plan", {**args, "content": factories.content(id="other")})
    assert changed.is_error
    assert changed.structured_content["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert rows(rt, Plan) == 1


async def test_errors_are_structured_tool_errors(env: tuple[Client, Runtime]) -> None:
    client, rt = env
    missing = await client.call_tool("get_distribution_target", {"id": "tgt_nothere"})
    assert missing.is_error
    assert missing.structured_content["code"] == "NOT_FOUND"
    assert missing.structured_content["recommendedNextAction"]["tool"] == "list_distribution_targets"
    bad = await client.call_tool("create_distribution_target", {"name": "", "channel": "stub"})
    assert bad.is_error
    assert bad.structured_content["code"] == "VALIDATION_ERROR"
    assert bad.structured_content["field"] == "name"
    wrong = await client.call_tool("create_distribution_target", {"name": "x", "channel": "carrier-pigeon"})
    assert (wrong.structured_content["code"], wrong.structured_content["field"]) == ("VALIDATION_ERROR", "channel")
    assert wrong.structured_content["message"] == (
        "Invalid arguments for create_distribution_target: channel: Input should be 'webhook', 'http', 'stub', "
        "'discord', 'telegram', 'whatsapp', 'slack', 'mastodon', 'bluesky', 'gdrive', 'feed' or 'email'."
    )
    assert rows(rt, Target) == 0


async def test_server_setting_hides_mutating_tools(tmp_path: Path) -> None:
    rt = factories.runtime(tmp_path, mcp_hide_mutations=True)
    principal, _ = factories.principal(rt)
    try:
        server = build_mcp_server(rt, fixed_principal(principal), include_mutations=not rt.settings.mcp_hide_mutations)
        async with Client(server) as client:
            tools = (await client.list_tools()).tools
    finally:
        rt.close()
    assert tools and all(tool.annotations.read_only_hint for tool in tools)
    assert "create_distribution_plan" not in {tool.name for tool in tools}
