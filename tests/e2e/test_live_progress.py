"""Live plan progress against a real server on loopback, embedded and on PostgreSQL + Redis (events from a
`herald worker` over Redis pub/sub): the planProgress subscription with a real websocket client speaking
graphql-transport-ws, and the SSE stream with a real SSE client. Each watches a plan that cannot finish until
a paused target is resumed, so the stream is seen open, idle (keep-alives) and then final; and each refuses a
bad key and an unknown plan. Every read has a deadline."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from httpx_sse import ServerSentEvent, connect_sse
from websockets.asyncio.client import ClientConnection, connect

from tests.support import factories
from tests.support.live import LiveHerald, herald_env, live_herald, redis_mode_herald
from tests.support.waiting import within

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
READ_SECONDS = 20
SUBSCRIBE = (
    "subscription($id: ID!) { planProgress(id: $id) { __typename ... on PlanProgressEvent { planId type "
    "status final jobIds counts { total delivered pending } } ... on OperationError { code message } } }"
)


@pytest.fixture(scope="module", params=["embedded", pytest.param("postgresql+redis", marks=pytest.mark.integration)])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHerald]:
    data_dir = tmp_path_factory.mktemp("live-progress")
    if request.param == "embedded":
        with live_herald(herald_env(data_dir, live_keepalive_seconds="0.2")) as server:
            yield server
        return
    with redis_mode_herald(data_dir, "live", live_keepalive_seconds="0.2") as server:
        yield server


def rest(live: LiveHerald, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    response = httpx.request(method, live.url + path, headers=live.headers, timeout=READ_SECONDS, **kwargs)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def held_plan(live: LiveHerald) -> tuple[str, str]:
    """A plan of three stub targets, one paused: two deliver, the third waits until it is resumed."""
    ids = [
        rest(live, "POST", "/api/v1/targets", json={"name": f"t{i}-{uuid.uuid4().hex[:8]}", "channel": "stub"})[
            "target"
        ]["id"]
        for i in range(3)
    ]
    rest(live, "POST", f"/api/v1/targets/{ids[2]}/pause", json={"reason": "held for the test"})
    plan = rest(live, "POST", "/api/v1/plans", json={"content": factories.content(), "targetIds": ids})["plan"]
    return plan["id"], ids[2]


def resume(live: LiveHerald, target_id: str) -> None:
    rest(live, "POST", f"/api/v1/targets/{target_id}/resume")


def progress(event: ServerSentEvent) -> dict[str, Any]:
    assert event.event == "progress"
    data: dict[str, Any] = json.loads(event.data)
    return data


# --- SSE ------------------------------------------------------------------------------------------------


def test_sse_streams_a_plan_until_it_is_final(live: LiveHerald) -> None:
    plan_id, held = held_plan(live)
    seen: list[dict[str, Any]] = []
    with (
        httpx.Client(headers=live.headers, timeout=READ_SECONDS) as client,
        connect_sse(client, "GET", f"{live.url}/api/v1/plans/{plan_id}/events") as source,
    ):
        assert source.response.status_code == 200
        assert source.response.headers["content-type"].startswith("text/event-stream")
        events = source.iter_sse()
        for event in events:
            seen.append(progress(event))
            assert event.id == str(len(seen))
            if seen[-1]["counts"]["delivered"] == 2:
                break
        assert seen[0]["type"] == "snapshot" and not seen[-1]["final"]
        resume(live, held)
        for event in events:
            seen.append(progress(event))
        # The stream ended by itself after the final event.
    assert [event["final"] for event in seen].count(True) == 1 and seen[-1]["final"]
    assert (seen[-1]["planId"], seen[-1]["status"], seen[-1]["counts"]["delivered"]) == (plan_id, "succeeded", 3)
    assert all(event["counts"]["total"] == 3 for event in seen)


def test_sse_sends_keep_alive_comments_while_idle(live: LiveHerald) -> None:
    plan_id, held = held_plan(live)
    lines: list[str] = []
    with httpx.stream(
        "GET", f"{live.url}/api/v1/plans/{plan_id}/events", headers=live.headers, timeout=READ_SECONDS
    ) as response:
        for line in response.iter_lines():
            lines.append(line)
            if lines.count(": keep-alive") == 2:
                break
    assert lines[:3] == ["id: 1", "event: progress", lines[2]] and lines[2].startswith("data: {")
    resume(live, held)


def test_sse_refuses_a_bad_key_and_an_unknown_plan(live: LiveHerald) -> None:
    plan_id, held = held_plan(live)
    url = f"{live.url}/api/v1/plans/{plan_id}/events"
    no_key = httpx.get(url, timeout=READ_SECONDS)
    assert (no_key.status_code, no_key.json()["error"]["code"]) == (401, "UNAUTHORIZED")
    writer = rest(live, "POST", "/api/v1/api-keys", json={"name": "writer", "scopes": ["write"]})["secret"]
    lacking = httpx.get(url, headers={"Authorization": f"Bearer {writer}"}, timeout=READ_SECONDS)
    assert (lacking.status_code, lacking.json()["error"]["code"]) == (403, "FORBIDDEN")
    missing = httpx.get(f"{live.url}/api/v1/plans/pln_missing/events", headers=live.headers, timeout=READ_SECONDS)
    assert (missing.status_code, missing.headers["content-type"]) == (404, "application/json")
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    resume(live, held)


# --- GraphQL subscription over graphql-transport-ws --------------------------------------------------------


def ws_url(live: LiveHerald) -> str:
    return live.url.replace("http://", "ws://") + "/graphql"


async def receive(ws: ClientConnection) -> dict[str, Any]:
    async with within(READ_SECONDS, "a graphql-transport-ws message"):
        message: dict[str, Any] = json.loads(await ws.recv())
    return message


async def subscribe(ws: ClientConnection, plan_id: str, payload: dict[str, Any] | None = None) -> None:
    await ws.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
    assert (await receive(ws))["type"] == "connection_ack"
    await ws.send(
        json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE, "variables": {"id": plan_id}}})
    )


async def next_result(ws: ClientConnection) -> dict[str, Any] | None:
    """The next planProgress result, or None once the subscription completed."""
    message = await receive(ws)
    if message["type"] == "complete":
        return None
    assert message["type"] == "next" and message["id"] == "1", message
    assert "errors" not in message["payload"], message
    result: dict[str, Any] = message["payload"]["data"]["planProgress"]
    return result


@pytest.mark.parametrize("auth", ["header", "connection_init"])
async def test_subscription_streams_a_plan_until_it_is_final(live: LiveHerald, auth: str) -> None:
    plan_id, held = held_plan(live)
    headers = live.headers if auth == "header" else {}
    payload = {} if auth == "header" else {"Authorization": f"Bearer {live.key}"}
    seen: list[dict[str, Any]] = []
    async with connect(ws_url(live), subprotocols=["graphql-transport-ws"], additional_headers=headers) as ws:  # type: ignore[list-item]
        await subscribe(ws, plan_id, payload)
        while (result := await next_result(ws)) is not None:
            seen.append(result)
            if result["counts"]["delivered"] == 2 and not result["final"]:
                resume(live, held)
        assert seen[0]["__typename"] == "PlanProgressEvent" and seen[0]["type"] == "snapshot"
    assert [event["final"] for event in seen].count(True) == 1 and seen[-1]["final"]
    assert (seen[-1]["planId"], seen[-1]["status"], seen[-1]["counts"]["delivered"]) == (plan_id, "SUCCEEDED", 3)


async def test_subscription_refuses_a_bad_key(live: LiveHerald) -> None:
    async with connect(ws_url(live), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer nope"}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(
            ws_url(live),
            subprotocols=["graphql-transport-ws"],
            additional_headers={"Authorization": "Bearer nope"},  # type: ignore[list-item]
        ):
            pass
    assert refused.value.response.status_code == 403


async def test_subscription_answers_an_unknown_plan_with_an_error_and_completes(live: LiveHerald) -> None:
    async with connect(ws_url(live), subprotocols=["graphql-transport-ws"], additional_headers=live.headers) as ws:  # type: ignore[list-item]
        await subscribe(ws, "pln_missing")
        result = await next_result(ws)
        assert result is not None and (result["__typename"], result["code"]) == ("OperationError", "NOT_FOUND")
        assert await next_result(ws) is None
