"""Every operation, on all three doors (GraphQL, MCP, REST), against: no key, a revoked key, another
workspace's key, a key lacking the scope, a read-only key. Each refusal is asserted, and so is that nothing
changed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from mcp import Client
from sqlmodel import select
from starlette.testclient import TestClient

from graphql_schema.schema import schema
from mcp_tools.server import build_mcp_server, fixed_principal
from server.app import create_app
from server.context import Principal
from server.db import session_scope
from server.keys.service import ALL_SCOPES, authenticate, create_key
from server.models import AlertRule, ApiKey, AuditEvent, DeadLetter, Job, Plan, Recipient, Schedule, Target, Workspace
from server.operations import OPERATIONS, Operation
from server.runtime import Runtime
from tests.support import factories, rest
from tests.support.gql import document
from tests.support.marks import each_operation


class World:
    """Workspace A with one of everything, plus keys of every kind."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        admin = create_key(self.rt, "admin")
        self.admin = authenticate(self.rt, f"Bearer {admin.secret}")
        self.admin_secret = admin.secret
        revoked = create_key(self.rt, "revoked")
        with session_scope(self.rt.engine) as session:
            row = session.get(ApiKey, revoked.id)
            row.revoked_at = datetime.now(UTC)
            session.add(row)
        self.revoked_secret = revoked.secret
        self.other_secret = create_key(self.rt, "other", workspace_id="ws_other").secret
        self.other = authenticate(self.rt, f"Bearer {self.other_secret}")
        # REST takes a bearer key: one lacking each scope, and a read-only one.
        self.lacking_secret = {
            scope: create_key(self.rt, f"lacking-{scope}", scopes=tuple(s for s in ALL_SCOPES if s != scope)).secret
            for scope in ALL_SCOPES
        }
        self.read_only_secret = create_key(self.rt, "read-only", read_only=True).secret
        self.spare_key = create_key(self.rt, "spare").id
        self.ids = self._seed()

    def call(self, principal: Principal, tool: str, **arguments: Any) -> dict[str, Any]:
        async def run() -> dict[str, Any]:
            async with Client(build_mcp_server(self.rt, fixed_principal(principal))) as c:
                result = await c.call_tool(tool, arguments)
            return {**result.structured_content, "_isError": result.is_error}

        return anyio.run(run)

    def rest(self, secret: str | None, op: Operation, arguments: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        response = self.client.request(**rest.request_for(op.tool, arguments), headers=headers)
        return response.status_code, response.json()

    def _seed(self) -> dict[str, str]:
        ok = self.call(self.admin, "create_distribution_target", name="t", channel="stub")["target"]["id"]
        hook = self.call(
            self.admin,
            "create_distribution_target",
            name="w",
            channel="webhook",
            config={"url": "http://127.0.0.1:9/hook"},
        )["target"]["id"]
        dead = self.call(
            self.admin,
            "create_distribution_target",
            name="d",
            channel="stub",
            config={"failTimes": 9},
            retryPolicy={"maxAttempts": 1, "baseDelaySeconds": 0.01, "maxDelaySeconds": 0.01},
        )["target"]["id"]
        failed = self.call(
            self.admin, "create_distribution_plan", content=factories.content(), targetIds=[dead], awaitDelivery=True
        )["plan"]["id"]
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        scheduled = self.call(
            self.admin, "create_distribution_plan", content=factories.content(), targetIds=[ok], scheduledAt=later
        )["plan"]["id"]
        with session_scope(self.rt.engine) as session:
            letter = session.exec(select(DeadLetter.id)).one()
        recipient = self.call(
            self.admin, "upsert_recipients", recipients=[{"externalId": "ARN-1", "addresses": {"stub": "a"}}]
        )["recipients"][0]["id"]
        schedule = self.call(
            self.admin,
            "create_distribution_schedule",
            name="weekly",
            cron="0 8 * * 1",
            timezone="Europe/Berlin",
            plan={"targetIds": [ok], "content": factories.content(id="weekly")},
        )["schedule"]["id"]
        held_plan = self.call(
            self.admin,
            "create_distribution_plan",
            content=factories.content(id="held"),
            targetIds=[ok],
            scheduledAt=later,
        )["plan"]["id"]
        self.call(self.admin, "pause_distribution_plan", id=held_plan)
        held_schedule = self.call(
            self.admin,
            "create_distribution_schedule",
            name="held",
            cron="0 8 * * 1",
            timezone="Europe/Berlin",
            plan={"targetIds": [ok], "content": factories.content(id="held-weekly")},
            paused=True,
        )["schedule"]["id"]
        alert_rule = self.call(
            self.admin, "create_alert_rule", name="kpi", eventTypes=["plan.kpi_missed"], targetId=hook
        )["rule"]["id"]
        return {
            "target": ok,
            "webhook": hook,
            "failed": failed,
            "scheduled": scheduled,
            "dead_letter": letter,
            "recipient": recipient,
            "schedule": schedule,
            "paused_plan": held_plan,
            "paused_schedule": held_schedule,
            "alert_rule": alert_rule,
        }

    def state(self) -> str:
        """Everything in workspace A that an operation could change."""
        with session_scope(self.rt.engine) as session:
            rows = [
                session.exec(select(m).where(m.workspace_id == "ws_default").order_by(m.id)).all()
                for m in (Target, Plan, Job, ApiKey, DeadLetter, Recipient, Schedule, AlertRule)
            ]
            halted = session.get(Workspace, "ws_default").halted
        return json.dumps(
            [[r.model_dump(exclude={"last_used_at", "updated_at"}) for r in group] for group in rows] + [halted],
            sort_keys=True,
            default=repr,
        )


def arguments_for(op: Operation, ids: dict[str, str], spare_key: str) -> dict[str, Any]:
    by_tool: dict[str, dict[str, Any]] = {
        "create_distribution_target": {"name": "new", "channel": "stub"},
        "get_distribution_target": {"id": ids["target"]},
        "update_distribution_target": {"id": ids["target"], "name": "renamed"},
        "pause_distribution_target": {"id": ids["target"]},
        "resume_distribution_target": {"id": ids["target"]},
        "test_distribution_target": {"id": ids["target"]},
        "rotate_target_signing_secret": {"id": ids.get("webhook", "tgt_")},
        "create_distribution_plan": {"content": factories.content(id="sec"), "targetIds": [ids["target"]]},
        "get_distribution_plan": {"id": ids["failed"]},
        "get_plan_report": {"id": ids["failed"]},
        "list_plan_jobs": {"planId": ids["failed"]},
        "cancel_distribution_plan": {"id": ids["scheduled"]},
        "retry_failed_jobs": {"planId": ids["failed"]},
        "replay_dead_letters": {"planId": ids["failed"]},
        "get_dead_letter": {"id": ids["dead_letter"]},
        "create_api_key": {"name": "x"},
        "revoke_api_key": {"id": spare_key},
        "upsert_recipients": {"recipients": [{"externalId": "ARN-2", "addresses": {"email": "b@example.com"}}]},
        "get_recipient": {"id": ids["recipient"]},
        "delete_recipients": {"ids": [ids["recipient"]]},
        "unsubscribe_recipient": {"id": ids["recipient"], "channel": "stub"},
        "pause_distribution_plan": {"id": ids["scheduled"]},
        "resume_distribution_plan": {"id": ids.get("paused_plan", "pln_")},
        "create_distribution_schedule": {
            "name": "daily",
            "cron": "0 9 * * *",
            "timezone": "Europe/Berlin",
            "plan": {"targetIds": [ids["target"]], "content": factories.content(id="daily")},
        },
        "get_distribution_schedule": {"id": ids["schedule"]},
        "update_distribution_schedule": {"id": ids["schedule"], "cron": "0 9 * * 2"},
        "delete_distribution_schedule": {"id": ids["schedule"]},
        "pause_distribution_schedule": {"id": ids["schedule"]},
        "resume_distribution_schedule": {"id": ids.get("paused_schedule", "sch_")},
        "trigger_distribution_schedule": {"id": ids["schedule"]},
        "backfill_distribution_schedule": {
            "id": ids["schedule"],
            "startAt": "2026-11-02T00:00:00Z",
            "endAt": "2026-11-09T23:00:00Z",
        },
        "create_alert_rule": {"name": "more", "eventTypes": ["plan.kpi_missed"], "targetId": ids["target"]},
        "delete_alert_rule": {"id": ids["alert_rule"]},
    }
    return by_tool.get(op.tool, {})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    app = create_app(factories.test_settings(tmp_path_factory.mktemp("security")))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield World(client)


def graphql(world: World, principal: Principal, op: Operation, arguments: dict[str, Any]) -> dict[str, Any]:
    async def run() -> Any:
        context = {
            "runtime": world.rt,
            "principal": principal,
            "request_id": "req_matrix",
            "request": None,
            "response": None,
        }
        return await schema.execute(document(op, arguments), context_value=context)

    result = anyio.run(run)
    assert result.errors is None, result.errors
    return result.data[op.graphql]


@pytest.mark.parametrize("op", each_operation(OPERATIONS))
@pytest.mark.parametrize("secret", ["none", "revoked"])
def test_no_key_or_revoked_key_is_401_on_every_door(world: World, op: Operation, secret: str) -> None:
    before = world.state()
    headers = {} if secret == "none" else {"Authorization": f"Bearer {world.revoked_secret}"}
    arguments = arguments_for(op, world.ids, world.spare_key)
    gql = world.client.post("/graphql", json={"query": document(op, arguments)}, headers=headers)
    mcp = world.client.post(
        "/mcp",
        headers={**headers, "Accept": "application/json, text/event-stream"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": op.tool, "arguments": arguments}},
    )
    status, body = world.rest(None if secret == "none" else world.revoked_secret, op, arguments)
    for response in (gql, mcp):
        assert response.status_code == 401
    # Each door's own shape: GraphQL's errors list (code in extensions), the structured error on /mcp and REST.
    assert [error["extensions"]["code"] for error in gql.json()["errors"]] == ["UNAUTHORIZED"]
    assert mcp.json()["error"]["code"] == "UNAUTHORIZED"
    assert (status, body["error"]["code"]) == (401, "UNAUTHORIZED")
    assert world.state() == before


@pytest.mark.parametrize("op", each_operation(OPERATIONS))
def test_key_lacking_the_scope_is_refused_on_every_door(world: World, op: Operation) -> None:
    lacking = Principal("ws_default", world.admin.key_id, "lacking", tuple(s for s in ALL_SCOPES if s != op.scope))
    arguments = arguments_for(op, world.ids, world.spare_key)
    before = world.state()
    body = world.call(lacking, op.tool, **arguments)
    assert body["_isError"] and body["code"] == "FORBIDDEN"
    assert graphql(world, lacking, op, arguments)["code"] == "FORBIDDEN"
    status, rest_body = world.rest(world.lacking_secret[op.scope], op, arguments)
    assert (status, rest_body["error"]["code"]) == (403, "FORBIDDEN")
    assert rest_body["error"]["message"] == body["message"]
    assert world.state() == before


@pytest.mark.parametrize("op", each_operation(op for op in OPERATIONS if op.mutation))
def test_read_only_key_refuses_mutations_but_dry_runs_work(world: World, op: Operation) -> None:
    read_only = Principal("ws_default", world.admin.key_id, "agent", ALL_SCOPES, read_only=True)
    arguments = arguments_for(op, world.ids, world.spare_key)
    before = world.state()
    body = world.call(read_only, op.tool, **arguments)
    assert body["_isError"] and body["code"] == "READ_ONLY_KEY"
    assert graphql(world, read_only, op, arguments)["code"] == "READ_ONLY_KEY"
    status, rest_body = world.rest(world.read_only_secret, op, arguments)
    assert (status, rest_body["error"]["code"]) == (403, "READ_ONLY_KEY")
    dry = world.call(read_only, op.tool, dryRun=True, **arguments)
    assert dry["_isError"] is False and dry["dryRun"] is True
    status, rest_dry = world.rest(world.read_only_secret, op, {**arguments, "dryRun": True})
    assert (status, rest_dry["dryRun"]) == (200, True)
    assert world.state() == before


@pytest.mark.parametrize(
    "op",
    each_operation(
        op
        for op in OPERATIONS
        if any(
            k
            in str(
                arguments_for(
                    op,
                    {
                        "target": "tgt_",
                        "failed": "pln_",
                        "scheduled": "pln_",
                        "dead_letter": "dlq_",
                        "recipient": "rcp_",
                        "schedule": "sch_",
                        "alert_rule": "alr_",
                    },
                    "key_",
                )
            )
            for k in ("tgt_", "pln_", "dlq_", "key_", "rcp_", "sch_", "alr_")
        )
    ),
)
def test_another_workspaces_key_cannot_see_or_touch_resources(world: World, op: Operation) -> None:
    arguments = arguments_for(op, world.ids, world.spare_key)
    before = world.state()
    body = world.call(world.other, op.tool, **arguments)
    gql = graphql(world, world.other, op, arguments)
    status, rest_body = world.rest(world.other_secret, op, arguments)
    assert body["_isError"] and body["code"] == "NOT_FOUND", body
    assert gql["code"] == "NOT_FOUND"
    assert (status, rest_body["error"]["code"]) == (404, "NOT_FOUND")
    assert world.state() == before


def test_lists_are_scoped_to_the_workspace(world: World) -> None:
    for tool in (
        "list_distribution_targets",
        "list_distribution_plans",
        "list_dead_letters",
        "list_operational_events",
        "list_api_keys",
        "list_audit_events",
        "list_recipients",
    ):
        items = world.call(world.other, tool)["items"]
        assert all("ws_default" not in json.dumps(item) for item in items)
        assert not any(item.get("id") in world.ids.values() for item in items)
    assert world.call(world.other, "list_distribution_targets")["items"] == []


def test_refusals_are_audited(world: World) -> None:
    lacking = Principal("ws_default", "key_lacking", "lacking", ("read",))
    world.call(lacking, "halt_deliveries", reason="nope")
    with session_scope(world.rt.engine) as session:
        row = session.exec(
            select(AuditEvent).where(AuditEvent.principal == "lacking (key_lacking)").order_by(AuditEvent.id.desc())
        ).first()
    assert (row.operation, row.outcome, row.error_code, row.input["reason"]) == (
        "halt_deliveries",
        "error",
        "FORBIDDEN",
        "nope",
    )
    audit = world.call(world.admin, "list_audit_events", operation="halt_deliveries", outcome="error")
    assert audit["items"][0]["errorCode"] == "FORBIDDEN"
