"""Idempotency keys that hints propose: derived from the whole request, so a different request never collides."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.operations import BY_TOOL
from tests.support import factories
from tests.support.doors import Doors, doors

pytestmark = pytest.mark.anyio


@pytest.fixture
async def d(tmp_path: Path) -> AsyncIterator[Doors]:
    async with doors(tmp_path) as opened:
        yield opened


async def _dry_run_then_hint(d: Doors, content: dict, target_id: str) -> tuple[str, dict]:
    dry = await d.ok("create_distribution_plan", content=content, targetIds=[target_id], dryRun=True)
    action = dry["recommendedNextAction"]
    assert action["tool"] == "create_distribution_plan"
    return action["arguments"]["idempotencyKey"], await d.ok(action["tool"], **action["arguments"])


async def test_the_same_content_to_a_second_target_delivers_after_its_own_dry_run(d: Doors) -> None:
    first, second = await factories.stub_target(d, "a"), await factories.stub_target(d, "b")
    content = factories.content()
    key_a, to_a = await _dry_run_then_hint(d, content, first)
    key_b, to_b = await _dry_run_then_hint(d, content, second)
    assert re.fullmatch(rf"{content['id']}@1#[0-9a-f]{{16}}", key_a) and key_b.startswith(f"{content['id']}@1#")
    assert key_a != key_b
    assert (to_a["replayed"], to_a["plan"]["status"], to_a["plan"]["jobs"][0]["targetId"]) == (
        False,
        "succeeded",
        first,
    )
    assert (to_b["replayed"], to_b["plan"]["status"], to_b["plan"]["jobs"][0]["targetId"]) == (
        False,
        "succeeded",
        second,
    )


async def test_the_same_dry_run_proposes_the_same_key_and_a_callers_key_is_kept(d: Doors) -> None:
    target = await factories.stub_target(d)
    content = factories.content()
    args = {"content": content, "targetIds": [target], "dryRun": True}
    one = await d.ok("create_distribution_plan", **args)
    two = await d.ok("create_distribution_plan", **args)
    key = one["recommendedNextAction"]["arguments"]["idempotencyKey"]
    assert two["recommendedNextAction"]["arguments"]["idempotencyKey"] == key
    mine = await d.ok("create_distribution_plan", **args, idempotencyKey="mine")
    assert mine["recommendedNextAction"]["arguments"]["idempotencyKey"] == "mine"


async def test_a_reused_key_answers_with_the_request_under_a_key_of_its_own(d: Doors) -> None:
    await d.ok("create_distribution_target", name="a", channel="stub", idempotencyKey="k1")
    before = d.counts()
    reused = await d.error("create_distribution_target", name="b", channel="stub", idempotencyKey="k1")
    assert reused["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert d.counts() == before
    action = reused["recommendedNextAction"]
    key = action["arguments"]["idempotencyKey"]
    assert re.fullmatch(r"k1#[0-9a-f]{16}", key)
    assert action == {
        "tool": "create_distribution_target",
        "graphql": "createDistributionTarget",
        "arguments": {
            "name": "b",
            "channel": "stub",
            "config": {},
            "labels": [],
            "active": True,
            "idempotencyKey": key,
        },
        "reason": "Send this request again under the key derived from it, which no different request shares.",
        "afterSeconds": None,
    }
    BY_TOOL[action["tool"]].input_model.model_validate(action["arguments"])
    created = await d.ok(action["tool"], **action["arguments"])
    assert (created["replayed"], created["target"]["name"]) == (False, "b")
