"""The SSE route in process: a finished plan's stream is one final event and ends; a refused watch is the
error body before any stream (another workspace's plan: 404; a key without the read scope: 403)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from server.keys.service import create_key
from tests.support import factories


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(factories.test_settings(tmp_path))
    with TestClient(app) as test_client:
        test_client.headers["Authorization"] = f"Bearer {create_key(app.state.runtime, 'sse').secret}"
        yield test_client


def delivered_plan(client: TestClient) -> str:
    target = client.post("/api/v1/targets", json={"name": "t", "channel": "stub"}).json()["target"]["id"]
    body = {"content": factories.content(), "targetIds": [target], "awaitDelivery": True}
    plan = client.post("/api/v1/plans", json=body).json()["plan"]
    assert plan["status"] == "succeeded"
    return str(plan["id"])


def test_a_final_plan_streams_one_final_event_and_ends(client: TestClient) -> None:
    plan_id = delivered_plan(client)
    response = client.get(f"/api/v1/plans/{plan_id}/events")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    frame, rest = response.text.split("\n\n", 1)
    lines = frame.split("\n")
    assert lines[:2] == ["id: 1", "event: progress"] and rest == ""
    event = json.loads(lines[2].removeprefix("data: "))
    assert (event["planId"], event["type"], event["status"], event["final"]) == (plan_id, "snapshot", "succeeded", True)
    assert event["counts"]["delivered"] == event["counts"]["total"] == 1


def test_a_refused_watch_is_the_error_body(client: TestClient) -> None:
    plan_id = delivered_plan(client)
    rt = client.app.state.runtime  # type: ignore[attr-defined]
    other = create_key(rt, "other", workspace_id="ws_other").secret
    response = client.get(f"/api/v1/plans/{plan_id}/events", headers={"Authorization": f"Bearer {other}"})
    assert (response.status_code, response.json()["error"]["code"]) == (404, "NOT_FOUND")
    writer = create_key(rt, "writer", scopes=("write",)).secret
    response = client.get(f"/api/v1/plans/{plan_id}/events", headers={"Authorization": f"Bearer {writer}"})
    assert (response.status_code, response.json()["error"]["code"]) == (403, "FORBIDDEN")
