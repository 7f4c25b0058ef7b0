"""Scripted agents that know only the MCP tool list and follow recommendedNextAction, against a live server.

Each agent makes the calls its scenario needs and nothing else: the exact sequence of tools is asserted
(the fewest calls a hint-follower can finish in), every hinted tool exists in the listed tools and its
arguments validate against the tool's input schema, every reason is one sentence, and the receiver got
exactly what the scenario delivers. Where a hint asks for a fix (a credential, a repaired receiver), the
agent supplies it, as a person would; where a hint's content is a sample, the agent puts in its own.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import pytest
from mcp import Client

from server.operations import BY_TOOL
from tests.e2e import flows
from tests.e2e.flows import mcp_client
from tests.support import factories, services
from tests.support.live import LiveHerald, herald_env, live_herald
from tests.support.receiver import Receiver, Reply

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

MAX_STEPS = 12
# A hint's wait is honoured up to this (a scenario never needs more).
MAX_SLEEP_SECONDS = 15.0
# awaitDelivery's default wait per mode: enough for a first delivery (separate worker processes take longer).
AWAIT = {"embedded": "1", "redis": "4"}
Fix = Callable[[dict[str, Any]], dict[str, Any]]


@pytest.fixture(scope="module", params=["embedded", pytest.param("redis", marks=pytest.mark.integration)])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHerald]:
    # awaitDelivery answers after AWAIT seconds by default, so a longer wait shows up as a hint to follow.
    if request.param == "embedded":
        with live_herald(
            herald_env(tmp_path_factory.mktemp("agents"), await_default_seconds=AWAIT["embedded"])
        ) as server:
            yield server
        return
    schema = f"herald_agents_{services.RUN_TAG}"
    namespace = services.redis_namespace(f"herald-agents-{services.RUN_TAG}")
    env = herald_env(
        tmp_path_factory.mktemp("agents-redis"),
        await_default_seconds=AWAIT["redis"],
        database_url=services.postgres_schema_url(schema),
        redis_url=services.REDIS_URL,
        redis_namespace=namespace,
    )
    try:
        with live_herald(env, "--no-worker", workers=2) as server:
            yield warmed_up(server)
    finally:
        services.drop_postgres_schema(schema)
        services.drop_redis_namespace(namespace)


WARM_UP_TARGET = """
mutation { createDistributionTarget(name: "warm-up", channel: STUB) { ... on TargetPayload { target { id } } } }"""


def warmed_up(live: LiveHerald) -> LiveHerald:
    """One delivery first, so the agents' counts do not pay for workers still starting."""
    target = live.graphql(WARM_UP_TARGET)["createDistributionTarget"]["target"]["id"]
    variables = {"content": factories.content(), "targetIds": [target], "key": "warm-up"}
    plan = live.graphql(flows.CREATE_PLAN, variables)["createDistributionPlan"]
    assert plan["plan"]["status"] == "SUCCEEDED", plan
    return live


def one_sentence(reason: str) -> bool:
    """Ends with a full stop, and no sentence starts inside it (quoted errors in parentheses aside)."""
    outside = re.sub(r"\([^()]*(\([^()]*\)[^()]*)*\)", "", reason)
    return reason.endswith(".") and re.search(r"[.!?] [A-Z]", outside) is None


class Agent:
    """Knows the listed tools; calls one, then does what its hint says, until the goal or a dead end."""

    def __init__(self, client: Client, tools: dict[str, dict[str, Any]], content: dict[str, Any]) -> None:
        self.client, self.tools, self.content = client, tools, content
        self.calls: list[str] = []

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        assert tool in self.tools, f"{tool} is not a listed tool"
        jsonschema.validate(arguments, self.tools[tool])
        result = await self.client.call_tool(tool, arguments)
        self.calls.append(tool)
        body = result.structured_content
        assert body is not None and not result.is_error, body
        hint = body["recommendedNextAction"]
        assert hint is not None and one_sentence(hint["reason"]), hint
        return body

    async def follow(
        self, body: dict[str, Any], goal: Callable[[dict[str, Any]], bool], fixes: dict[str, Fix] | None = None
    ) -> dict[str, Any]:
        fixes = {"create_distribution_plan": self.own_content, **(fixes or {})}
        for _ in range(MAX_STEPS):
            if goal(body):
                return body
            hint = body["recommendedNextAction"]
            tool = hint["tool"]
            assert tool is not None, f"dead end after {self.calls}: {hint}"
            assert tool in self.tools, f"hint names {tool}, which is not a listed tool"
            jsonschema.validate(hint["arguments"], self.tools[tool])
            BY_TOOL[tool].input_model.model_validate(hint["arguments"])
            if hint["afterSeconds"]:
                await asyncio.sleep(min(hint["afterSeconds"], MAX_SLEEP_SECONDS))
            body = await self.call(tool, fixes.get(tool, lambda a: a)(dict(hint["arguments"])))
        raise AssertionError(f"not done after {MAX_STEPS} steps: {self.calls}")

    def own_content(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """A dry run proposed with sample content gets the agent's content instead."""
        if arguments.get("dryRun"):
            return {**arguments, "content": self.content}
        return arguments


def succeeded(body: dict[str, Any]) -> bool:
    plan = body.get("plan") or {}
    return bool(plan.get("status") == "succeeded")


async def with_agent(live: LiveHerald, scenario: Callable[[Agent], Any]) -> Agent:
    http, transport = mcp_client(live)
    async with http, Client(transport) as client:
        listed = (await client.list_tools()).tools
        agent = Agent(client, {tool.name: tool.input_schema for tool in listed}, factories.content())
        await scenario(agent)
    return agent


def unique(name: str) -> str:
    return f"{name}-{time.monotonic_ns()}"


def http_target(receiver: Receiver, path: str, **fields: Any) -> dict[str, Any]:
    return {"name": unique(path.strip("/")), "channel": "http", "config": {"url": receiver.url + path}, **fields}


def delivered_content(receiver: Receiver, path: str) -> list[str]:
    return [request.json()["data"]["id"] for request in receiver.at(path)]


async def test_a_bad_credential_is_fixed_then_delivered(live: LiveHerald, receiver: Receiver) -> None:
    receiver.script["/cred"] = [Reply(401), Reply(200)]

    async def scenario(agent: Agent) -> None:
        created = await agent.call(
            "create_distribution_target", http_target(receiver, "/cred", credentials={"bearerToken": "wrong"})
        )
        good = {"bearerToken": "right"}
        final = await agent.follow(
            created, succeeded, {"update_distribution_target": lambda a: {**a, "credentials": good}}
        )
        assert final["recommendedNextAction"]["tool"] is None

    agent = await with_agent(live, scenario)
    # 6 calls: create, dry run, create the plan (fails: 401), fix the credential, retry, read it delivered.
    assert agent.calls == [
        "create_distribution_target",
        "create_distribution_plan",
        "create_distribution_plan",
        "update_distribution_target",
        "retry_failed_jobs",
        "get_distribution_plan",
    ]
    sent = receiver.at("/cred")
    assert [r.headers.get("Authorization") for r in sent] == ["Bearer wrong", "Bearer right"]
    assert delivered_content(receiver, "/cred") == [agent.content["id"]] * 2


async def test_a_429_is_recovered_by_waiting_until_the_reset(live: LiveHerald, receiver: Receiver) -> None:
    # A reset 2 s after awaitDelivery gives up, so the plan answers with a wait to follow.
    reset = int(live.env["HERALD_AWAIT_DEFAULT_SECONDS"]) + 2
    receiver.script["/limited"] = [Reply(429, headers={"Retry-After": str(reset)}), Reply(200)]

    async def scenario(agent: Agent) -> None:
        created = await agent.call("create_distribution_target", http_target(receiver, "/limited"))
        await agent.follow(created, succeeded)

    agent = await with_agent(live, scenario)
    # 4 calls: create, dry run, create the plan (429, answers when the await ends), one read after the reset.
    assert agent.calls == [
        "create_distribution_target",
        "create_distribution_plan",
        "create_distribution_plan",
        "get_distribution_plan",
    ]
    assert delivered_content(receiver, "/limited") == [agent.content["id"]] * 2


async def test_a_partial_plan_retries_only_its_failed_target(live: LiveHerald, receiver: Receiver) -> None:
    receiver.script["/broken"] = [Reply(400), Reply(200)]

    async def scenario(agent: Agent) -> None:
        ok = (await agent.call("create_distribution_target", http_target(receiver, "/fine")))["target"]["id"]
        broken = await agent.call("create_distribution_target", http_target(receiver, "/broken"))
        config = broken["target"]["config"]
        dry = await agent.call(
            "create_distribution_plan",
            {"content": agent.content, "targetIds": [ok, broken["target"]["id"]], "dryRun": True},
        )
        await agent.follow(dry, succeeded, {"update_distribution_target": lambda a: {**a, "config": config}})

    agent = await with_agent(live, scenario)
    # 7 calls: two targets, dry run, the plan (partial: 400), the fix, the retry of the failed job, one read.
    assert agent.calls == [
        "create_distribution_target",
        "create_distribution_target",
        "create_distribution_plan",
        "create_distribution_plan",
        "update_distribution_target",
        "retry_failed_jobs",
        "get_distribution_plan",
    ]
    assert delivered_content(receiver, "/fine") == [agent.content["id"]]
    assert delivered_content(receiver, "/broken") == [agent.content["id"]] * 2


async def test_a_dead_letter_is_replayed(live: LiveHerald, receiver: Receiver) -> None:
    receiver.script["/dying"] = [Reply(503), Reply(503), Reply(200)]
    retry = {**factories.FAST_RETRY, "maxAttempts": 2}

    async def scenario(agent: Agent) -> None:
        created = await agent.call("create_distribution_target", http_target(receiver, "/dying", retryPolicy=retry))
        await agent.follow(created, succeeded)

    agent = await with_agent(live, scenario)
    # 5 calls: create, dry run, the plan (dead after 2 attempts), replay the dead letter, one read.
    assert agent.calls == [
        "create_distribution_target",
        "create_distribution_plan",
        "create_distribution_plan",
        "replay_dead_letters",
        "get_distribution_plan",
    ]
    assert delivered_content(receiver, "/dying") == [agent.content["id"]] * 3


async def test_the_same_content_goes_to_a_second_target(live: LiveHerald, receiver: Receiver) -> None:
    async def scenario(agent: Agent) -> None:
        for path in ("/first", "/second"):
            created = await agent.call("create_distribution_target", http_target(receiver, path))
            await agent.follow(created, succeeded)

    agent = await with_agent(live, scenario)
    # 6 calls: per target, create, dry run, create the plan (delivered within the await).
    assert agent.calls == ["create_distribution_target", "create_distribution_plan", "create_distribution_plan"] * 2
    assert delivered_content(receiver, "/first") == [agent.content["id"]]
    assert delivered_content(receiver, "/second") == [agent.content["id"]]
