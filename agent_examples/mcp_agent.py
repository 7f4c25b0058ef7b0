"""An MCP agent that drives Herald by following recommendedNextAction alone.

It discovers the tools, registers a target, dry-runs a plan, creates it with an idempotency
key and awaitDelivery, and when something fails follows the hint it is given — the way an LLM
agent would, minus the LLM. Run against a live server:

    HERALD_URL=http://127.0.0.1:8000 HERALD_API_KEY=hk_... python agent_examples/mcp_agent.py \
        --webhook-url https://example.com/hooks/herald

Without --webhook-url it uses the `stub` channel scripted to fail once with a permanent error,
so you can watch the agent repair the target and retry.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

MAX_STEPS = 12


class Agent:
    def __init__(self, client: Client, log: Any = print) -> None:
        self.client = client
        self.log = log

    async def call(self, tool: str, arguments: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        result = await self.client.call_tool(tool, arguments)
        body = result.structured_content or json.loads(result.content[0].text)
        hint = body.get("recommendedNextAction") or {}
        outcome = "error " + body.get("code", "") if result.is_error else "ok"
        self.log(f"-> {tool}: {outcome}; next: {hint.get('tool')} ({hint.get('reason')})")
        return not result.is_error, body

    async def follow(self, body: dict[str, Any], stop_when: Any) -> dict[str, Any]:
        """Follow hints until ``stop_when(body)`` or there is nothing left to do."""
        for _ in range(MAX_STEPS):
            if stop_when(body):
                return body
            hint = body.get("recommendedNextAction") or {}
            if not hint.get("tool"):
                return body
            if hint.get("afterSeconds"):
                await asyncio.sleep(min(float(hint["afterSeconds"]), 5))
            _ok, body = await self.call(hint["tool"], self.repair(hint["tool"], dict(hint["arguments"])))
        return body

    def repair(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Where a hint asks to fix a target, the agent supplies the fix (here: a working stub script)."""
        if tool == "update_distribution_target" and "config" not in arguments:
            arguments["config"] = {}
        return arguments


def delivered(body: dict[str, Any]) -> bool:
    plan = body.get("plan") or {}
    return plan.get("status") == "succeeded"


async def run(client: Client, webhook_url: str | None, log: Any = print) -> dict[str, Any]:
    agent = Agent(client, log)
    tools = await client.list_tools()
    log("tools: " + ", ".join(sorted(tool.name for tool in tools.tools)))
    suffix = uuid.uuid4().hex[:6]
    if webhook_url:
        target_args = {"name": f"agent-webhook-{suffix}", "channel": "webhook", "config": {"url": webhook_url}}
    else:
        target_args = {"name": f"agent-stub-{suffix}", "channel": "stub", "config": {"failTimes": 1, "failWith": 400}}
    ok, created = await agent.call("create_distribution_target", {**target_args, "idempotencyKey": f"target-{suffix}"})
    if not ok:
        raise SystemExit(f"could not create the target: {created['message']}")
    target_id = created["target"]["id"]
    content = {
        "id": f"note-{suffix}",
        "version": "1",
        "title": "Rates held",
        "body": "The committee kept rates unchanged.",
    }
    _ok, preview = await agent.call(
        "create_distribution_plan", {"content": content, "targetIds": [target_id], "dryRun": True}
    )
    for target in preview["preview"]["targets"]:
        log(f"   {target['targetName']} would receive: {json.dumps(target['payload'])[:100]}")
    # The dry run's hint is the real call, idempotency key and awaitDelivery included.
    result = await agent.follow(preview, stop_when=lambda body: body.get("plan") is not None)
    return await agent.follow(result, stop_when=delivered)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--webhook-url")
    args = parser.parse_args()
    url = os.environ.get("HERALD_URL", "http://127.0.0.1:8000").rstrip("/") + "/mcp"
    headers = {"Authorization": f"Bearer {os.environ['HERALD_API_KEY']}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120)) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        final = await run(client, args.webhook_url)
    plan = final.get("plan") or {}
    print(f"plan {plan.get('id')}: {plan.get('status')}")
    return 0 if plan.get("status") == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
