"""planProgress in process (schema.subscribe): a finished plan answers its final event and completes; a
plan of another workspace and a key without the read scope get one OperationError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from graphql_schema.schema import schema
from server.app import create_app
from server.context import Principal
from tests.support import factories
from tests.support.doors import doors
from tests.support.waiting import within

WATCH = """subscription($id: ID!) { planProgress(id: $id) {
  __typename ... on PlanProgressEvent { planId status final counts { delivered } } ... on OperationError { code } } }"""


async def results(rt: Any, principal: Principal, plan_id: str) -> list[dict[str, Any]]:
    context = {"runtime": rt, "principal": principal, "request_id": "req_sub", "request": None, "response": None}
    seen = []
    async with within(10, "planProgress completes"):
        async for result in await schema.subscribe(WATCH, variable_values={"id": plan_id}, context_value=context):
            assert result.errors is None, result.errors
            seen.append(result.data["planProgress"])
    return seen


@pytest.mark.anyio
async def test_final_event_then_complete_and_refusals(tmp_path: Path) -> None:
    async with doors(tmp_path) as d:
        target = await factories.stub_target(d, "t", {})
        plan = await d.ok(
            "create_distribution_plan", content=factories.content(), targetIds=[target], awaitDelivery=True
        )
        plan_id = plan["plan"]["id"]
        assert await results(d.rt, d.principal, plan_id) == [
            {"__typename": "PlanProgressEvent", "planId": plan_id, "status": "SUCCEEDED", "final": True,
             "counts": {"delivered": 1}},
        ]  # fmt: skip
        other = Principal("ws_other", "key_other", "other")
        assert await results(d.rt, other, plan_id) == [{"__typename": "OperationError", "code": "NOT_FOUND"}]
        writer = Principal(d.principal.workspace_id, d.principal.key_id, "writer", ("write",))
        assert await results(d.rt, writer, plan_id) == [{"__typename": "OperationError", "code": "FORBIDDEN"}]


def test_a_websocket_without_a_key_is_closed(tmp_path: Path) -> None:
    """No key on the upgrade: /graphql waits for connection_init and closes with 4403 when it has none; any
    other path is refused at the upgrade."""
    app = create_app(factories.test_settings(tmp_path))
    with TestClient(app) as client:
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_json({"type": "connection_init", "payload": {}})
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
        assert closed.value.code == 4403
        with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/mcp"):
            pass
        assert refused.value.code == 4401
