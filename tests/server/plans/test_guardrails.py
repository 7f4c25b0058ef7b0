"""Agent guardrails: large plans need a dry-run confirmation bound to the request; per-key quotas."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import factories
from tests.support.doors import Doors, doors

pytestmark = pytest.mark.anyio


@pytest.fixture
async def d(tmp_path: Path) -> AsyncIterator[Doors]:
    async with doors(tmp_path, confirm_above_targets=3, quota_plans_per_hour=4, quota_targets_per_plan=5) as opened:
        yield opened


async def targets(d: Doors, n: int) -> None:
    for i in range(n):
        await factories.stub_target(d, f"t{i}", labels=["all"])


async def test_large_plan_needs_the_token_from_its_own_dry_run(d: Doors) -> None:
    await targets(d, 4)
    request = {"content": factories.content(id="big"), "targetLabels": ["all"]}
    refused = await d.error("create_distribution_plan", **request)
    assert refused["code"] == "CONFIRMATION_REQUIRED" and refused["field"] == "confirmationToken"
    assert refused["recommendedNextAction"]["arguments"]["dryRun"] is True
    assert d.counts()["distribution_plans"] == 0
    dry = await d.ok("create_distribution_plan", dryRun=True, **request)
    token = dry["confirmationToken"]
    assert dry["recommendedNextAction"]["arguments"]["confirmationToken"] == token
    other = await d.error(
        "create_distribution_plan", **{**request, "content": factories.content(id="other")}, confirmationToken=token
    )
    assert other["code"] == "CONFIRMATION_REQUIRED" and "invalid or expired" in other["message"]
    forged = await d.error("create_distribution_plan", **request, confirmationToken=token[:-2] + "xx")
    assert forged["code"] == "CONFIRMATION_REQUIRED"
    assert d.counts()["distribution_plans"] == 0
    hint = dry["recommendedNextAction"]
    created = await d.ok(hint["tool"], **hint["arguments"])
    assert created["plan"]["counts"]["total"] == 4


async def test_small_plans_need_no_token(d: Doors) -> None:
    await targets(d, 3)
    created = await d.ok("create_distribution_plan", content=factories.content(), targetLabels=["all"])
    assert created["plan"]["counts"]["total"] == 3


async def test_targets_per_plan_quota(d: Doors) -> None:
    await targets(d, 6)
    refused = await d.error("create_distribution_plan", content=factories.content(), targetLabels=["all"], dryRun=True)
    assert refused["code"] == "QUOTA_EXCEEDED" and "at most 5 targets" in refused["message"]


async def test_plans_per_hour_quota_per_key(d: Doors) -> None:
    await targets(d, 1)
    for _ in range(4):
        await d.ok("create_distribution_plan", content=factories.content(), targetLabels=["all"])
    refused = await d.error("create_distribution_plan", content=factories.content(), targetLabels=["all"])
    assert refused["code"] == "QUOTA_EXCEEDED"
    assert 3500 < refused["recommendedNextAction"]["afterSeconds"] <= 3600
    assert d.counts()["distribution_plans"] == 4
