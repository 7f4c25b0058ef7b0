"""One end-to-end suite, run against a live server in embedded mode and in Redis mode."""

from __future__ import annotations

import time
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from standardwebhooks.webhooks import Webhook

from tests.support import factories
from tests.support.live import LiveHerald
from tests.support.receiver import Receiver, Reply

CREATE_TARGET = """
mutation($name: String!, $config: JSON) {
  createDistributionTarget(name: $name, channel: WEBHOOK, config: $config) {
    __typename
    ... on TargetPayload { target { id hasCredentials } revealedSecrets recommendedNextAction { tool graphql } }
    ... on OperationError { code message }
  }
}"""

CREATE_PLAN = """
mutation($content: ContentInput!, $targetIds: [ID!], $key: String) {
  createDistributionPlan(content: $content, targetIds: $targetIds, idempotencyKey: $key,
                         awaitDelivery: true, awaitTimeoutSeconds: 20) {
    __typename
    ... on PlanPayload {
      replayed timedOut
      plan { id status counts { delivered total } jobs { id status attempts receipt { externalId } } }
      recommendedNextAction { tool reason }
    }
    ... on OperationError { code message }
  }
}"""

GET_TARGET = """
query($id: ID!) {
  distributionTarget(id: $id) {
    ... on TargetResult { target { id pausedUntil pauseReason } }
    ... on OperationError { code }
  }
}"""


def mcp_client(live: LiveHerald) -> tuple[httpx2.AsyncClient, Any]:
    http = httpx2.AsyncClient(headers=live.headers, timeout=httpx2.Timeout(30, read=120))
    return http, streamable_http_client(f"{live.url}/mcp", http_client=http)


async def mcp_webhook_delivery(live: LiveHerald, receiver: Receiver) -> dict[str, Any]:
    """An agent over MCP: register a webhook, dry-run, create with a key and awaitDelivery."""
    http, transport = mcp_client(live)
    async with http, Client(transport) as client:
        created = await client.call_tool(
            "create_distribution_target",
            {"name": f"mcp-hook-{time.monotonic_ns()}", "channel": "webhook", "config": {"url": receiver.url + "/mcp"}},
        )
        assert not created.is_error, created.structured_content
        target_id = created.structured_content["target"]["id"]
        secret = created.structured_content["revealedSecrets"]["signingSecret"]
        content = factories.content()
        dry = await client.call_tool(
            "create_distribution_plan", {"content": content, "targetIds": [target_id], "dryRun": True}
        )
        hint = dry.structured_content["recommendedNextAction"]
        assert receiver.at("/mcp") == []
        started = time.perf_counter()
        result = await client.call_tool(hint["tool"], hint["arguments"])
        elapsed_ms = (time.perf_counter() - started) * 1000
        again = await client.call_tool(hint["tool"], hint["arguments"])
    body = result.structured_content
    assert body["plan"]["status"] == "succeeded", body
    [request] = receiver.at("/mcp")
    payload = Webhook(secret).verify(request.body, request.headers)
    assert payload["data"]["id"] == content["id"]
    job = body["plan"]["jobs"][0]
    assert request.headers["webhook-id"] == job["id"]
    receipt = job["receipt"]
    # The receiver's reply names no message id; Herald keeps the status code.
    assert (receipt["externalId"], receipt["responseMeta"]) == (None, {"statusCode": 200}), receipt
    assert again.structured_content["replayed"] is True
    assert again.structured_content["plan"]["id"] == body["plan"]["id"]
    assert len(receiver.at("/mcp")) == 1
    return {"await_ms": elapsed_ms, "plan": body["plan"]}


def graphql_webhook_delivery(live: LiveHerald, receiver: Receiver) -> dict[str, Any]:
    """A frontend over GraphQL: same flow, same outcome."""
    created = live.graphql(
        CREATE_TARGET, {"name": f"gql-hook-{time.monotonic_ns()}", "config": {"url": receiver.url + "/gql"}}
    )
    payload = created["createDistributionTarget"]
    assert payload["__typename"] == "TargetPayload", payload
    target_id, secret = payload["target"]["id"], payload["revealedSecrets"]["signingSecret"]
    assert payload["recommendedNextAction"] == {"tool": "create_distribution_plan", "graphql": "createDistributionPlan"}
    variables = {"content": factories.content(), "targetIds": [target_id], "key": f"gql-{time.monotonic_ns()}"}
    plan = live.graphql(CREATE_PLAN, variables)["createDistributionPlan"]
    assert plan["__typename"] == "PlanPayload", plan
    assert plan["plan"]["status"] == "SUCCEEDED" and plan["timedOut"] is False
    [request] = receiver.at("/gql")
    Webhook(secret).verify(request.body, request.headers)
    replay = live.graphql(CREATE_PLAN, variables)["createDistributionPlan"]
    assert replay["replayed"] is True and replay["plan"]["id"] == plan["plan"]["id"]
    assert len(receiver.at("/gql")) == 1
    return plan


def rate_limited_target_is_left_alone(live: LiveHerald, receiver: Receiver) -> None:
    """A 429 pauses the target: no request reaches it until Retry-After; other targets go on."""
    receiver.script["/limited"] = [Reply(429, headers={"Retry-After": "2"}), Reply(200)]
    limited = live.graphql(
        CREATE_TARGET, {"name": f"limited-{time.monotonic_ns()}", "config": {"url": receiver.url + "/limited"}}
    )
    healthy = live.graphql(
        CREATE_TARGET, {"name": f"healthy-{time.monotonic_ns()}", "config": {"url": receiver.url + "/healthy"}}
    )
    limited_id = limited["createDistributionTarget"]["target"]["id"]
    healthy_id = healthy["createDistributionTarget"]["target"]["id"]
    first = live.graphql(CREATE_PLAN, {"content": factories.content(), "targetIds": [limited_id, healthy_id]})
    result = first["createDistributionPlan"]
    assert result["plan"]["status"] == "SUCCEEDED", result
    limited_requests = receiver.at("/limited")
    assert [r.at for r in limited_requests] == sorted(r.at for r in limited_requests)
    assert len(limited_requests) == 2
    gap = limited_requests[1].at - limited_requests[0].at
    assert gap >= 1.9, f"a request reached the paused target after {gap:.2f}s"
    assert len(receiver.at("/healthy")) == 1
    assert receiver.at("/healthy")[0].at - limited_requests[0].at < 1.5
    jobs = {job["status"] for job in result["plan"]["jobs"]}
    assert jobs == {"DELIVERED"}
