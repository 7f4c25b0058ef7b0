"""The REST door over HTTP (ASGI, in process): the RFC's routes, /api/v1 resources, Idempotency-Key, dry run,
and each refusal's status with the structured error body, nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select
from starlette.testclient import TestClient

from server.app import create_app
from server.db import session_scope
from server.keys.service import create_key
from server.models import AuditEvent, IdempotencyRecord, Job, Plan, Target
from tests.support import factories


@pytest.fixture
def client(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    settings = getattr(request, "param", {})
    app = create_app(factories.test_settings(tmp_path, **settings))
    with TestClient(app) as test_client:
        key = create_key(app.state.runtime, "rest")
        test_client.headers["Authorization"] = f"Bearer {key.secret}"
        yield test_client


def counts(client: TestClient) -> dict[str, int]:
    rt = client.app.state.runtime  # type: ignore[attr-defined]
    with session_scope(rt.engine) as session:
        return {
            m.__tablename__: session.exec(select(func.count()).select_from(m)).one()
            for m in (Target, Plan, Job, IdempotencyRecord, AuditEvent)
        }


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refused(response: Any, status: int, code: str) -> dict[str, Any]:
    assert (response.status_code, response.headers["content-type"]) == (status, "application/json"), response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    assert {"message", "remediation", "recommendedNextAction", "requestId"} <= set(error)
    return error


def stub(client: TestClient, name: str = "stub") -> str:
    return str(ok(client.post("/api/distribution/targets", json={"name": name, "channel": "stub"}))["target"]["id"])


def test_the_rfc_routes_deliver_a_plan(client: TestClient) -> None:
    target = ok(client.post("/api/distribution/targets", json={"name": "partner", "channel": "stub"}))["target"]
    assert (target["name"], target["channel"], target["active"]) == ("partner", "stub", True)
    created = ok(
        client.post(
            "/api/distribution/plans",
            json={"content": factories.content(), "targetIds": [target["id"]], "awaitDelivery": True},
        )
    )
    assert created["plan"]["status"] == "succeeded"
    plan = ok(client.get(f"/api/distribution/plans/{created['plan']['id']}"))["plan"]
    assert [(job["targetId"], job["status"]) for job in plan["jobs"]] == [(target["id"], "delivered")]
    assert ok(client.get(f"/api/v1/plans/{plan['id']}")) == ok(client.get(f"/api/distribution/plans/{plan['id']}"))
    listed = ok(client.get("/api/v1/targets", params={"channel": "stub"}))
    assert [item["id"] for item in listed["items"]] == [target["id"]]


def test_query_parameters_are_typed_and_lists_repeat(client: TestClient) -> None:
    first, second = stub(client, "a"), stub(client, "b")
    page = ok(client.get("/api/v1/targets", params={"limit": "1"}))
    assert [item["id"] for item in page["items"]] == [first] and page["nextCursor"]
    rest = ok(client.get("/api/v1/targets", params={"limit": "1", "cursor": page["nextCursor"]}))
    assert [item["id"] for item in rest["items"]] == [second]
    workers = ok(client.get("/api/v1/workers", params={"includeGone": "true"}))
    assert workers["alive"] == 1 and [w["mode"] for w in workers["workers"]] == ["embedded"]
    refused(client.get("/api/v1/workers", params={"includeGone": "perhaps"}), 400, "VALIDATION_ERROR")
    error = refused(client.get("/api/v1/targets", params={"limit": "many"}), 400, "VALIDATION_ERROR")
    assert error["field"] == "limit"
    error = refused(client.get("/api/v1/targets", params=[("limit", "1"), ("limit", "2")]), 400, "VALIDATION_ERROR")
    assert error["message"] == "Query parameter 'limit' was given 2 times; give it once."


def test_a_mutation_by_its_resource_path(client: TestClient) -> None:
    target = stub(client)
    paused = ok(client.post(f"/api/v1/targets/{target}/pause", json={"reason": "maintenance"}))["target"]
    assert paused["pauseReason"] == "maintenance" and paused["pausedUntil"] is not None
    renamed = ok(client.patch(f"/api/v1/targets/{target}", json={"name": "renamed"}))["target"]
    assert renamed["name"] == "renamed"
    assert ok(client.post(f"/api/v1/targets/{target}/resume"))["target"]["pausedUntil"] is None


def test_idempotency_key_header_replays_and_refuses_reuse(client: TestClient) -> None:
    target = stub(client)
    body = {"content": factories.content(id="once"), "targetIds": [target]}
    first = ok(client.post("/api/v1/plans", json=body, headers={"Idempotency-Key": "plan-1"}))
    again = ok(client.post("/api/v1/plans", json=body, headers={"Idempotency-Key": "plan-1"}))
    assert (again["plan"]["id"], again["replayed"], first["replayed"]) == (first["plan"]["id"], True, False)
    # The header is the body's idempotencyKey: the same key either way is the same request.
    same = ok(client.post("/api/v1/plans", json={**body, "idempotencyKey": "plan-1"}))
    assert same["plan"]["id"] == first["plan"]["id"]
    before = counts(client)
    other = {**body, "content": factories.content(id="other")}
    refused(
        client.post("/api/v1/plans", json=other, headers={"Idempotency-Key": "plan-1"}), 409, "IDEMPOTENCY_KEY_REUSED"
    )
    error = refused(
        client.post("/api/v1/plans", json={**other, "idempotencyKey": "a"}, headers={"Idempotency-Key": "b"}),
        400,
        "VALIDATION_ERROR",
    )
    assert error["field"] == "idempotencyKey"
    assert counts(client) == before


def test_dry_run_writes_nothing(client: TestClient) -> None:
    target = stub(client)
    before = counts(client)
    body = ok(
        client.post("/api/v1/plans", json={"content": factories.content(), "targetIds": [target], "dryRun": True})
    )
    assert body["dryRun"] is True and body["recommendedNextAction"]["tool"] == "create_distribution_plan"
    assert "dryRun" not in body["recommendedNextAction"]["arguments"]
    assert counts(client) == before


def test_refusals_carry_a_fitting_status_and_write_nothing(client: TestClient) -> None:
    target = stub(client)
    before = counts(client)
    refused(client.get("/api/v1/targets/tgt_missing"), 404, "NOT_FOUND")
    refused(client.get("/api/v1/no-such-thing"), 404, "NOT_FOUND")
    wrong_method = client.delete("/api/v1/targets")
    refused(wrong_method, 405, "METHOD_NOT_ALLOWED")
    assert wrong_method.headers["allow"] == "GET, POST"
    refused(client.post("/api/v1/targets", content=b"[1]"), 400, "MALFORMED_REQUEST")
    refused(client.post("/api/v1/targets", content=b"{nope"), 400, "MALFORMED_REQUEST")
    error = refused(
        client.post("/api/v1/targets?dryRun=true", json={"name": "x", "channel": "stub"}), 400, "VALIDATION_ERROR"
    )
    assert error["field"] == "dryRun"
    error = refused(
        client.patch(f"/api/v1/targets/{target}", json={"id": "tgt_other", "name": "x"}), 400, "VALIDATION_ERROR"
    )
    assert error["field"] == "id"
    refused(client.post("/api/v1/targets", json={"name": "x", "channel": "pigeon"}), 400, "VALIDATION_ERROR")
    refused(client.post("/api/v1/targets", content=b'{"name": "' + b"x" * 1_100_000 + b'"}'), 413, "PAYLOAD_TOO_LARGE")
    missing_key = client.get("/api/v1/targets", headers={"Authorization": ""})
    refused(missing_key, 401, "UNAUTHORIZED")
    assert missing_key.headers["www-authenticate"] == 'Bearer realm="herald"'
    assert counts(client) == before


def test_a_halted_workspace_refuses_a_test_delivery_with_503(client: TestClient) -> None:
    target = stub(client)
    ok(client.post("/api/v1/deliveries/halt", json={"reason": "incident"}))
    refused(client.post(f"/api/v1/targets/{target}/test"), 503, "DELIVERIES_HALTED")
    ok(client.post("/api/v1/deliveries/resume"))
    assert ok(client.post(f"/api/v1/targets/{target}/test"))["dryRun"] is False


@pytest.mark.parametrize("client", [{"quota_plans_per_hour": 1}], indirect=True)
def test_a_quota_is_429(client: TestClient) -> None:
    target = stub(client)
    ok(client.post("/api/v1/plans", json={"content": factories.content(), "targetIds": [target]}))
    before = counts(client)
    refused(
        client.post("/api/v1/plans", json={"content": factories.content(), "targetIds": [target]}),
        429,
        "QUOTA_EXCEEDED",
    )
    assert {k: v for k, v in counts(client).items() if k != "audit_events"} == {
        k: v for k, v in before.items() if k != "audit_events"
    }


def test_the_openapi_document_is_public(client: TestClient) -> None:
    response = client.get("/api/v1/openapi.json", headers={"Authorization": ""})
    assert response.status_code == 200
    spec = response.json()
    assert spec["paths"]["/api/distribution/plans/{id}"]["get"]["operationId"] == "get_distribution_plan_rfc"
    assert spec["paths"]["/api/v1/targets/{id}/pause"]["post"]["operationId"] == "pause_distribution_target"
