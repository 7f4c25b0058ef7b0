"""planProgress in process (schema.subscribe): a finished plan answers its final event and completes; a
plan of another workspace and a key without the read scope get one OperationError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from graphql_schema.schema import schema
from server.context import Principal
from tests.support import factories
from tests.support.doors import doors
from tests.support.waiting import within

pytestmark = pytest.mark.anyio
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
