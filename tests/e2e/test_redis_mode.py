"""The production engine: PostgreSQL, Redis, `herald serve --no-worker` and `herald worker` processes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e import flows
from tests.support.live import LiveHerald, redis_mode_herald
from tests.support.receiver import Receiver

pytestmark = [pytest.mark.anyio, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHerald]:
    with redis_mode_herald(tmp_path_factory.mktemp("redis-mode"), "e2e", workers=2) as server:
        yield server


async def test_agent_over_mcp_gets_signed_delivery_and_receipt(live: LiveHerald, receiver: Receiver) -> None:
    outcome = await flows.mcp_webhook_delivery(live, receiver)
    print(f"awaitDelivery round trip, one webhook target (redis mode): {outcome['await_ms']:.1f} ms")


def test_frontend_over_graphql_same_flow(live: LiveHerald, receiver: Receiver) -> None:
    flows.graphql_webhook_delivery(live, receiver)


def test_429_pause_is_shared_by_every_worker(live: LiveHerald, receiver: Receiver) -> None:
    flows.rate_limited_target_is_left_alone(live, receiver)


def test_healthz_reports_redis_mode(live: LiveHerald) -> None:
    assert httpx.get(live.url + "/healthz").json()["mode"] == "redis"
