"""The console over HTTP (no browser): who may sign in, and which form posts change anything."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from console.session import COOKIE
from server.app import create_app
from server.keys.service import create_key
from tests.support import factories

BASE = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(factories.test_settings(tmp_path_factory.mktemp("console"), bootstrap_key=False), worker=False)
    with TestClient(app, base_url=BASE) as client:
        yield client


@pytest.fixture
def app_client(served: TestClient) -> TestClient:
    """One app for the module; each test signs in afresh (its own keys and targets)."""
    served.cookies.clear()
    return served


def sign_in(client: TestClient, secret: str) -> str:
    """Sign in; the CSRF token of the session (from a page's hidden field)."""
    response = client.post("/console/sign-in", data={"key": secret}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/console/plans"
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/targets").text)
    assert found
    return found.group(1)


def target(client: TestClient) -> str:
    body = factories.call(
        client.app.state.runtime, "create_distribution_target", name=f"t-{uuid.uuid4().hex[:8]}", channel="stub"
    )  # type: ignore[attr-defined]
    return str(body.wire()["target"]["id"])


def paused(client: TestClient, target_id: str) -> bool:
    body = factories.call(client.app.state.runtime, "get_distribution_target", id=target_id)  # type: ignore[attr-defined]
    return body.wire()["target"]["pausedUntil"] is not None


def test_the_cookie_is_http_only_and_same_site_strict(app_client: TestClient) -> None:
    key = create_key(app_client.app.state.runtime, "op")  # type: ignore[attr-defined]
    response = app_client.post("/console/sign-in", data={"key": key.secret}, follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/console" in cookie and "Max-Age=28800" in cookie and "Secure" not in cookie  # plain http here


def test_a_wrong_key_is_refused_and_pages_send_you_to_sign_in(app_client: TestClient) -> None:
    response = app_client.post("/console/sign-in", data={"key": "hk_nope"})
    assert response.status_code == 401 and "not valid" in response.text
    assert COOKIE not in app_client.cookies
    page = app_client.get("/console/plans", follow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (303, "/console/sign-in")


def test_the_console_needs_no_bearer_but_graphql_still_does(app_client: TestClient) -> None:
    assert app_client.get("/console/sign-in").status_code == 200
    for bare in ("/console", "/console/"):
        opened = app_client.get(bare, follow_redirects=False)
        assert (opened.status_code, opened.headers["location"]) == (303, "/console/plans")
    assert app_client.post("/graphql", json={"query": "{ __typename }"}).status_code == 401


def test_a_post_without_the_token_changes_nothing(app_client: TestClient) -> None:
    key = create_key(app_client.app.state.runtime, "op")  # type: ignore[attr-defined]
    token = sign_in(app_client, key.secret)
    target_id = target(app_client)
    for data in ({}, {"csrf": "forged"}):
        response = app_client.post(f"/console/targets/{target_id}/pause", data=data)
        assert response.status_code == 403 and "security token" in response.text
    foreign = app_client.post(
        f"/console/targets/{target_id}/pause", data={"csrf": token}, headers={"origin": "http://evil.example"}
    )
    assert foreign.status_code == 403
    assert not paused(app_client, target_id)
    done = app_client.post(f"/console/targets/{target_id}/pause", data={"csrf": token, "reason": "maintenance"})
    assert done.status_code == 200 and "maintenance" in done.text
    assert paused(app_client, target_id)


def test_a_read_only_key_sees_pages_but_its_pause_is_refused(app_client: TestClient) -> None:
    rt = app_client.app.state.runtime  # type: ignore[attr-defined]
    token = sign_in(app_client, create_key(rt, "viewer", read_only=True).secret)
    target_id = target(app_client)
    assert target_id in app_client.get("/console/targets").text
    response = app_client.post(f"/console/targets/{target_id}/pause", data={"csrf": token})
    assert response.status_code == 403
    assert "This API key is read-only; pause_distribution_target changes state." in response.text
    assert not paused(app_client, target_id)


def test_revoking_the_key_ends_its_session(app_client: TestClient) -> None:
    rt = app_client.app.state.runtime  # type: ignore[attr-defined]
    key = create_key(rt, "op")
    sign_in(app_client, key.secret)
    factories.call(rt, "revoke_api_key", id=key.id)
    page = app_client.get("/console/plans", follow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (303, "/console/sign-in")


def test_sign_out_needs_the_token_and_ends_the_session(app_client: TestClient) -> None:
    token = sign_in(app_client, create_key(app_client.app.state.runtime, "op").secret)  # type: ignore[attr-defined]
    assert app_client.post("/console/sign-out", data={}).status_code == 403
    assert app_client.get("/console/plans", follow_redirects=False).status_code == 200
    out = app_client.post("/console/sign-out", data={"csrf": token}, follow_redirects=False)
    assert out.status_code == 303 and f'{COOKIE}=""' in out.headers["set-cookie"]
    assert app_client.get("/console/plans", follow_redirects=False).status_code == 303


def test_a_plan_page_and_its_event_stream(app_client: TestClient) -> None:
    rt = app_client.app.state.runtime  # type: ignore[attr-defined]
    sign_in(app_client, create_key(rt, "op").secret)
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = factories.call(
        rt, "create_distribution_plan", content=factories.content(), targetIds=[target(app_client)], scheduledAt=later
    )
    plan = body.wire()["plan"]
    page = app_client.get(f"/console/plans/{plan['id']}")
    assert page.status_code == 200 and plan["jobs"][0]["id"] in page.text
    assert f'data-live="/console/plans/{plan["id"]}/events"' in page.text and "No attempts yet." in page.text
    factories.call(rt, "cancel_distribution_plan", id=plan["id"])
    stream = app_client.get(f"/console/plans/{plan['id']}/events")
    assert stream.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line.removeprefix("data: ")) for line in stream.text.splitlines() if line.startswith("data: ")]
    assert [(e["status"], e["final"], e["counts"]["cancelled"]) for e in events] == [("cancelled", True, 1)]
    assert app_client.get("/console/plans/pln_01JX0000000000000000000000/events").status_code == 404
