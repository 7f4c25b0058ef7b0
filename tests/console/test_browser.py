"""The console in headless Chromium against a real `herald serve` on loopback.

Sign in, watch a plan finish live (its receiver holds the answers until the page is open), replay a dead
letter through the confirmation step, and see a read-only key's pause and a tokenless post refused with
nothing changed. With HERALD_CONSOLE_SCREENSHOTS set, the main pages are saved as PNGs along the way.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support import factories
from tests.support.browser import chromium, screenshot
from tests.support.live import LiveHerald, herald_env, live_herald
from tests.support.receiver import Receiver, Reply
from tests.support.waiting import until

pytestmark = pytest.mark.slow
WAIT_MS = 20_000

CREATE_TARGET = """
mutation($name: String!, $url: String!, $retry: RetryPolicyInput) {
  createDistributionTarget(name: $name, channel: WEBHOOK, config: {url: $url}, retryPolicy: $retry) {
    ... on TargetPayload { target { id } }
    ... on OperationError { code message }
  }
}"""
CREATE_PLAN = """
mutation($content: ContentInput!, $targetIds: [ID!], $wait: Boolean) {
  createDistributionPlan(content: $content, targetIds: $targetIds, awaitDelivery: $wait, awaitTimeoutSeconds: 20) {
    ... on PlanPayload { plan { id status jobs { id } } }
    ... on OperationError { code message }
  }
}"""
READ_ONLY_KEY = """
mutation { createApiKey(name: "viewer", readOnly: true) { ... on ApiKeyPayload { secret } } }"""
GET_TARGET = """
query($id: ID!) { distributionTarget(id: $id) { ... on TargetResult { target { pausedUntil pauseReason } } } }"""
CREATE_SCHEDULE = """
mutation($plan: PlanTemplateInput!) {
  createDistributionSchedule(name: "Morning digest", cron: "0 9 * * 1-5", timezone: "Europe/Berlin", plan: $plan) {
    ... on SchedulePayload { schedule { id } }
    ... on OperationError { code message }
  }
}"""


@pytest.fixture(scope="module")
def sink() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHerald]:
    with live_herald(herald_env(tmp_path_factory.mktemp("console-live"))) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as found:
        yield found


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    yield opened
    context.close()


def target(live: LiveHerald, url: str, name: str | None = None, retry: dict[str, Any] | None = None) -> str:
    body = live.graphql(CREATE_TARGET, {"name": name or f"hook-{uuid.uuid4().hex[:6]}", "url": url, "retry": retry})
    target_id: str = body["createDistributionTarget"]["target"]["id"]
    return target_id


def plan(live: LiveHerald, target_ids: list[str], wait: bool = False) -> dict[str, Any]:
    body = live.graphql(CREATE_PLAN, {"content": factories.content(), "targetIds": target_ids, "wait": wait})
    created: dict[str, Any] = body["createDistributionPlan"]["plan"]
    return created


def sign_in(page: Page, live: LiveHerald, key: str) -> None:
    page.goto(f"{live.url}/console/plans")
    expect(page).to_have_url(f"{live.url}/console/sign-in")
    screenshot(page, "sign-in")
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live.url}/console/plans")


def test_an_operator_watches_a_plan_finish_live(page: Page, live: LiveHerald, sink: Receiver) -> None:
    held = threading.Event()
    sink.script["/live"] = [Reply(release=held, delay_seconds=0.2)]
    targets = [target(live, f"{sink.url}/live", f"newsroom-{i}") for i in range(4)]
    created = plan(live, targets)
    sign_in(page, live, live.key)
    expect(page.locator(f'tr[data-counts="{created["id"]}"] [data-count="total"]')).to_have_text("4")
    page.goto(f"{live.url}/console/plans/{created['id']}")
    head = page.locator(".plan-head")
    expect(head.locator('[data-count="delivered"]')).to_have_text("0")
    page.evaluate("window.stayedOnPage = true")
    until(lambda: len(sink.at("/live")) >= 1, timeout=20, message="the first delivery reached the receiver")
    held.set()
    expect(head.locator('[data-count="delivered"]')).to_have_text("4", timeout=WAIT_MS)
    expect(head.locator("[data-status]")).to_have_text("succeeded", timeout=WAIT_MS)
    expect(head.locator('[data-count="pending"]')).to_have_text("0")
    assert page.evaluate("window.stayedOnPage") is True  # updated in place, no reload
    page.reload()
    assert page.locator("svg.chart rect.bar.ok").count() == 4
    screenshot(page, "plan")


def test_an_operator_replays_a_dead_letter_after_confirming(page: Page, live: LiveHerald, sink: Receiver) -> None:
    sink.script["/dead"] = [Reply(503, body='{"error": "upstream down"}'), Reply(200)]
    once = {"maxAttempts": 1, "baseDelaySeconds": 0.05, "maxDelaySeconds": 0.1}
    failed = plan(live, [target(live, f"{sink.url}/dead", "archive", once)], wait=True)
    assert failed["status"] == "FAILED"
    sign_in(page, live, live.key)
    page.goto(f"{live.url}/console/dead-letters")
    screenshot(page, "dead-letters")
    page.locator("table.dead-letters a[href^='/console/dead-letters/']").first.click()
    expect(page.locator("pre.json").last).to_contain_text("503")
    screenshot(page, "dead-letter")
    page.click("text=Replay…")
    expect(page.locator("h1")).to_contain_text("Replay")
    assert len(sink.at("/dead")) == 1  # the confirmation page changed nothing
    screenshot(page, "replay-confirm")
    page.click("text=Yes, replay it")
    expect(page).to_have_url(f"{live.url}/console/plans/{failed['id']}")
    expect(page.locator('.plan-head [data-count="delivered"]')).to_have_text("1", timeout=WAIT_MS)
    expect(page.locator('.plan-head [data-count="dead"]')).to_have_text("0")
    assert [r.path for r in sink.at("/dead")] == ["/dead", "/dead"]


def test_a_read_only_key_sees_the_pages_but_its_pause_is_refused(page: Page, live: LiveHerald, sink: Receiver) -> None:
    target_id = target(live, f"{sink.url}/ro", "partner-feed")
    viewer = live.graphql(READ_ONLY_KEY)["createApiKey"]["secret"]
    sign_in(page, live, viewer)
    page.goto(f"{live.url}/console/targets")
    page.locator(f'tr[id="{target_id}"] button:has-text("Pause")').click()
    expect(page.locator("p.error")).to_have_text(
        "This API key is read-only; pause_distribution_target changes state. Dry runs still work."
    )
    assert live.graphql(GET_TARGET, {"id": target_id})["distributionTarget"]["target"]["pausedUntil"] is None


def test_a_post_without_its_token_changes_nothing(page: Page, live: LiveHerald, sink: Receiver) -> None:
    target_id = target(live, f"{sink.url}/csrf", "crm-webhook")
    sign_in(page, live, live.key)
    page.goto(f"{live.url}/console/targets")
    row = page.locator(f'tr[id="{target_id}"]')
    row.locator("input[name=csrf]").evaluate("input => input.remove()")
    row.locator('button:has-text("Pause")').click()
    expect(page.locator("p.error")).to_contain_text("security token is missing")
    assert live.graphql(GET_TARGET, {"id": target_id})["distributionTarget"]["target"]["pausedUntil"] is None
    page.goto(f"{live.url}/console/targets")
    row.locator("input[name=reason]").fill("Partner asked us to hold while they migrate")
    row.locator('button:has-text("Pause")').click()
    expect(row.locator(".why")).to_have_text("Partner asked us to hold while they migrate")
    found = live.graphql(GET_TARGET, {"id": target_id})["distributionTarget"]["target"]
    assert found["pauseReason"] == "Partner asked us to hold while they migrate"
    screenshot(page, "targets")


def test_the_other_pages_render(page: Page, live: LiveHerald, sink: Receiver) -> None:
    plan_template = {"targetIds": [target(live, f"{sink.url}/digest", "digest")], "content": factories.content()}
    schedule_id = live.graphql(CREATE_SCHEDULE, {"plan": plan_template})["createDistributionSchedule"]["schedule"]["id"]
    sign_in(page, live, live.key)
    screenshot(page, "plans")
    page.goto(f"{live.url}/console/schedules")
    expect(page.locator(f'tr[id="{schedule_id}"]')).to_contain_text("Morning digest")
    page.goto(f"{live.url}/console/schedules/{schedule_id}")
    expect(page.locator("h2").first).to_have_text("Next runs")
    screenshot(page, "schedule")
    page.goto(f"{live.url}/console/events")
    screenshot(page, "events")
    page.goto(f"{live.url}/console/audit")
    expect(page.locator("table.audit")).to_contain_text("create_distribution_schedule")
    screenshot(page, "audit")
