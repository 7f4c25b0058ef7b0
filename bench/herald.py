"""Herald as a bench client sees it: GraphQL over HTTP with one API key, keep-alive connections."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from server.jobs.status import PLAN_FINAL, PlanStatus
from tests.support.live import LiveHerald

TARGET_RESULT = "... on TargetPayload { target { id } } ... on OperationError { code message }"
CREATE_PLAN = """mutation($content: ContentInput!, $labels: [String!], $ids: [ID!], $wait: Boolean) {
  createDistributionPlan(content: $content, targetLabels: $labels, targetIds: $ids, awaitDelivery: $wait) {
    ... on PlanPayload { plan { id status } } ... on OperationError { code message } } }"""
CANCEL_PLAN = """mutation($id: ID!) { cancelDistributionPlan(id: $id) {
  ... on PlanPayload { plan { id status } } ... on OperationError { code message } } }"""
PLANS = """query { distributionPlans(limit: 100) { ... on PlanList {
  items { id status completedAt counts { total delivered } } } ... on OperationError { code message } } }"""
PLAN_RECEIPTS = """query($id: ID!) { distributionPlan(id: $id) { ... on PlanResult {
  plan { jobs { targetId status receipt { deliveredAt } } } } ... on OperationError { code message } } }"""
RESUME_TARGET = """mutation($id: ID!) { resumeDistributionTarget(id: $id) {
  ... on TargetPayload { target { id } } ... on OperationError { code message } } }"""
TARGET = """query($id: ID!) { distributionTarget(id: $id) { ... on TargetResult {
  target { pausedUntil pauseReason } } ... on OperationError { code message } } }"""
PAUSES = """query($id: ID!) { operationalEvents(type: "target.paused", targetId: $id, limit: 100) {
  ... on EventList { items { createdAt data } } ... on OperationError { code message } } }"""
TARGETS_PER_CALL = 25  # aliases in one document, under HERALD_GRAPHQL_MAX_ALIASES (30 by default)
FINAL = PLAN_FINAL
PAYLOAD_BODY = "x" * 900


class Api:
    """One keep-alive client, safe to share between threads; OperationErrors raise."""

    def __init__(self, live: LiveHerald, connections: int = 16) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self.client = httpx.Client(base_url=live.url, headers=live.headers, timeout=120, limits=limits)

    def data(self, query: str, variables: dict) -> dict:
        body = self.client.post("/graphql", json={"query": query, "variables": variables}).raise_for_status().json()
        if "errors" in body:
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def call(self, query: str, variables: dict, field: str) -> dict:
        return payload(self.data(query, variables)[field], field)

    def close(self) -> None:
        self.client.close()


def payload(result: dict, field: str) -> dict:
    if "code" in result:
        raise RuntimeError(f"{field}: {result['code']} {result['message']}")
    return result


def content(tag: str) -> dict:
    """A fresh content version (about 1 KB): a new id each time, so no plan is a redistribution."""
    return {"id": f"bench-{tag}-{time.time_ns()}", "version": "1", "title": "Bench", "body": PAYLOAD_BODY}


def parse_time(value: str) -> float:
    moment = datetime.fromisoformat(value)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _target_batch(api: Api, label: str, channel: str, configs: dict[int, dict], small: int) -> list[str]:
    """One document of aliased createDistributionTarget mutations (fewer round trips than one each)."""
    names = [f"t{k}" for k in range(len(configs))]
    declared = ", ".join(f"${n}: String!, ${n}c: JSON, ${n}l: [String!]" for n in names)
    fields = " ".join(
        f"{n}: createDistributionTarget(name: ${n}, channel: {channel}, config: ${n}c, labels: ${n}l)"
        f" {{ {TARGET_RESULT} }}"
        for n in names
    )
    variables: dict = {}
    for n, (i, config) in zip(names, configs.items(), strict=True):
        labels = [label, small_label(label)] if i < small else [label]
        variables.update({n: f"{label}-{i}", f"{n}c": config, f"{n}l": labels})
    data = api.data(f"mutation({declared}) {{ {fields} }}", variables)
    return [payload(data[n], "createDistributionTarget")["target"]["id"] for n in names]


def small_label(label: str) -> str:
    """The second label of the first few targets of a group (a plan names at most 100 targets by id)."""
    return f"{label}-small"


def create_targets_of(
    api: Api, label: str, channel: str, configs: list[dict], threads: int = 8, small: int = 0
) -> list[str]:
    """Targets of ``channel`` (a GraphQL enum name) named ``{label}-{i}`` with ``configs[i]``, labelled ``label``
    (the first ``small`` also ``{label}-small``): batches of aliases, sent in parallel."""
    batches = [
        {i: configs[i] for i in range(start, min(start + TARGETS_PER_CALL, len(configs)))}
        for start in range(0, len(configs), TARGETS_PER_CALL)
    ]
    with ThreadPoolExecutor(threads) as pool:
        created = pool.map(lambda batch: _target_batch(api, label, channel, batch, small), batches)
        return [target_id for ids in created for target_id in ids]


def create_targets(api: Api, sink_url: str, label: str, count: int, threads: int, small: int = 0) -> list[str]:
    """Webhook targets ``{sink}/{label}/{i}`` labelled ``label`` (the first ``small`` also ``{label}-small``)."""
    configs = [{"url": f"{sink_url}/{label}/{i}"} for i in range(count)]
    return create_targets_of(api, label, "WEBHOOK", configs, threads, small)


@dataclass(frozen=True)
class Created:
    plan_id: str
    status: PlanStatus
    started: float
    call_ms: float


def create_plan(api: Api, label: str | None = None, target_ids: list[str] | None = None, wait: bool = False) -> Created:
    """One createDistributionPlan call; ``started`` is the wall clock just before it."""
    variables: dict = {"content": content(label or "ids"), "wait": wait}
    variables.update({"labels": [label]} if label else {"ids": target_ids})
    started, clock = time.time(), time.perf_counter()
    plan = api.call(CREATE_PLAN, variables, "createDistributionPlan")["plan"]
    call_ms = (time.perf_counter() - clock) * 1000
    return Created(plan_id=plan["id"], status=PlanStatus[plan["status"]], started=started, call_ms=call_ms)


def recent_plans(api: Api) -> dict[str, dict]:
    """The newest 100 plans by id: every scenario watches at most 100 plans of its own.

    GraphQL names a status by its enum name (``SUCCEEDED``); the bench keeps ``PlanStatus`` members.
    """
    return {
        p["id"]: {**p, "status": PlanStatus[p["status"]]} for p in api.call(PLANS, {}, "distributionPlans")["items"]
    }


def plan_summaries(api: Api, plan_ids: Iterable[str]) -> dict[str, dict]:
    recent = recent_plans(api)
    return {plan_id: recent[plan_id] for plan_id in plan_ids if plan_id in recent}


def _done(plans: dict[str, dict], count: int, delivered: int | None) -> bool:
    if delivered is not None:
        return sum(p["counts"]["delivered"] for p in plans.values()) >= delivered
    return len(plans) == count and all(p["status"] in FINAL for p in plans.values())


def wait_plans(api: Api, plan_ids: list[str], seconds: float, delivered: int | None = None) -> dict[str, dict]:
    """Poll until every plan is final (or, given ``delivered``, until that many jobs are delivered)."""
    deadline = time.monotonic() + seconds
    while True:
        plans = plan_summaries(api, plan_ids)
        if _done(plans, len(plan_ids), delivered) or time.monotonic() > deadline:
            return plans
        time.sleep(0.2)


def cancel_unfinished(api: Api, plans: dict[str, dict]) -> None:
    """Cancel what a timed-out or paused scenario left waiting, so it does not spill into the next one."""
    for plan_id, plan in plans.items():
        if plan["status"] not in FINAL:
            # It ended since the read, or the cancel failed: either way not a figure of this run.
            with contextlib.suppress(RuntimeError):
                api.call(CANCEL_PLAN, {"id": plan_id}, "cancelDistributionPlan")


def receipts(api: Api, plan_id: str) -> list[tuple[str, float]]:
    """(target id, deliveredAt) of every delivered job of a plan."""
    jobs = api.call(PLAN_RECEIPTS, {"id": plan_id}, "distributionPlan")["plan"]["jobs"]
    return [(j["targetId"], parse_time(j["receipt"]["deliveredAt"])) for j in jobs if j["receipt"]]


def pause_window(api: Api, target_id: str, since: float = 0.0) -> tuple[float, float] | None:
    """(first pause recorded since ``since``, pausedUntil now) of a target, as Herald stored them; None if none."""
    events = api.call(PAUSES, {"id": target_id}, "operationalEvents")["items"]
    starts = [at for e in events if (at := parse_time(e["createdAt"])) >= since]
    until = api.call(TARGET, {"id": target_id}, "distributionTarget")["target"]["pausedUntil"]
    if not starts or until is None:
        return None
    return min(starts), parse_time(until)


def resume_target(api: Api, target_id: str) -> None:
    """Lift a target's pause (and its flag, and its count of 429s in a row)."""
    api.call(RESUME_TARGET, {"id": target_id}, "resumeDistributionTarget")
