"""Content policy as data on a plan and on a target, enforced for every channel, shown by dry run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters import Content, Policy
from adapters.render import apply_policy
from server.policy import channel_refusal, effective_policy
from tests.support import factories
from tests.support.doors import Doors, doors
from tests.support.receiver import Receiver

pytestmark = pytest.mark.anyio
TEXT = Content(id="c", version="1", title="t", body="The quick brown fox jumps over the lazy dog", excerpt="Quick fox.")


@pytest.mark.parametrize(
    ("policy", "body"),
    [
        (Policy(max_length=20), "The quick brown fox…"),
        (Policy(max_length=20, truncate="word"), "The quick brown…"),
        (Policy(max_length=20, truncate="hard"), "The quick brown fox "),
        (Policy(excerpt_only=True, attribution="Herald Research"), "Quick fox.\n\n— Herald Research"),
        (Policy(max_length=30, attribution="HR"), "The quick brown fox jum…\n\n— HR"),
    ],
)
def test_text_rules(policy: Policy, body: str) -> None:
    assert apply_policy(TEXT, policy) == body
    assert len(apply_policy(TEXT, policy)) <= (policy.max_length or 10_000)


def test_stricter_rule_wins() -> None:
    merged = effective_policy(
        {"max_length": 100, "allowed_channels": ["webhook", "http"]},
        {"maxLength": 40, "allowedChannels": ["webhook"], "attribution": "X"},
    )
    assert (merged.max_length, merged.allowed_channels, merged.attribution) == (40, ("webhook",), "X")
    assert channel_refusal(merged, "http") == "policy: the http channel is not allowed (allowed: webhook)"
    assert channel_refusal(merged, "webhook") is None


@pytest.fixture
async def d(tmp_path: Path) -> AsyncIterator[Doors]:
    async with doors(tmp_path) as opened:
        yield opened


async def test_plan_and_target_policies_in_dry_run_and_delivery(d: Doors, receiver: Receiver) -> None:
    hook = (
        await d.ok(
            "create_distribution_target",
            name="hook",
            channel="webhook",
            config={"url": receiver.url + "/p"},
            policy={"attribution": "Herald Research", "maxLength": 60},
        )
    )["target"]
    assert hook["policy"]["attribution"] == "Herald Research"
    stub = (await d.ok("create_distribution_target", name="stub", channel="stub"))["target"]["id"]
    request = {
        "content": factories.content(body="x" * 200),
        "targetIds": [hook["id"], stub],
        "policy": {"allowedChannels": ["webhook"], "truncate": "hard"},
    }
    dry = (await d.ok("create_distribution_plan", dryRun=True, **request))["preview"]["targets"]
    verdicts = {p["targetName"]: (p["verdict"], p["reason"]) for p in dry}
    assert verdicts == {
        "hook": ("deliver", None),
        "stub": ("skip", "policy: the stub channel is not allowed (allowed: webhook)"),
    }
    body = next(p for p in dry if p["targetName"] == "hook")["payload"]["data"]["body"]
    assert body == "x" * 41 + "\n\n— Herald Research" and len(body) == 60
    plan = (await d.ok("create_distribution_plan", awaitDelivery=True, **request))["plan"]
    jobs = {job["targetName"]: job for job in plan["jobs"]}
    assert jobs["stub"]["status"] == "skipped" and jobs["stub"]["skipReason"].startswith("policy:")
    assert jobs["hook"]["status"] == "delivered"
    assert receiver.at("/p")[0].json()["data"]["body"] == body
