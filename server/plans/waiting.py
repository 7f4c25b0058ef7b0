"""awaitDelivery: wait on plan events (never a polling loop) until every job is final or time runs out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import anyio

from server.context import OpContext
from server.db import session_scope
from server.jobs.status import PLAN_FINAL
from server.plans import repository as repo
from server.plans.hints import IN_PROGRESS_REASON, plan_hint
from server.plans.schemas import PlanCounts, PlanPayload, PlanRead


def _read(ctx: OpContext, plan_id: str) -> PlanRead:
    with session_scope(ctx.runtime.engine) as session:
        return repo.plan_read(session, repo.load_plan(session, ctx.workspace_id, plan_id), ctx.runtime.settings)


def _finished(counts: PlanCounts) -> int:
    return counts.delivered + counts.failed + counts.dead + counts.cancelled + counts.skipped


async def await_plan(ctx: OpContext, plan_id: str, timeout: float) -> tuple[PlanRead, bool]:
    deadline = time.monotonic() + timeout
    async with ctx.runtime.events.subscribe(plan_id) as events:
        plan = await anyio.to_thread.run_sync(_read, ctx, plan_id)
        while plan.status not in PLAN_FINAL:
            await _report(ctx, plan)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return plan, True
            try:
                await asyncio.wait_for(events.get(), remaining)
            except TimeoutError:
                return await anyio.to_thread.run_sync(_read, ctx, plan_id), True
            while not events.empty():
                events.get_nowait()
            plan = await anyio.to_thread.run_sync(_read, ctx, plan_id)
    await _report(ctx, plan)
    return plan, False


async def _report(ctx: OpContext, plan: PlanRead) -> None:
    if ctx.progress is not None:
        done = _finished(plan.counts)
        await ctx.progress(done, plan.counts.total, f"{done}/{plan.counts.total} targets final ({plan.status})")


def _deliver_and_read(ctx: OpContext, plan_id: str, deliver: Callable[[], None]) -> PlanRead:
    deliver()
    return _read(ctx, plan_id)


async def with_delivery_wait(
    ctx: OpContext,
    payload: PlanPayload,
    await_delivery: bool,
    timeout: float | None,
    deliver: Callable[[], None] | None = None,
) -> PlanPayload:
    """The after-step of create_distribution_plan (fresh or replayed).

    ``deliver`` (eager delivery) sends the fresh plan's jobs in this process first: a plan it
    finished is answered from one read, without waiting on its events."""
    if payload.plan is None or not await_delivery or payload.plan.status in PLAN_FINAL:
        return payload
    settings = ctx.runtime.settings
    seconds = min(timeout or settings.await_default_seconds, settings.await_max_seconds)
    if deliver is not None:
        with anyio.CancelScope(shield=True):  # once begun, the jobs' messages are always sent
            plan = await anyio.to_thread.run_sync(_deliver_and_read, ctx, payload.plan.id, deliver)
        if plan.status in PLAN_FINAL:
            await _report(ctx, plan)
            return _answer(payload, plan, False, seconds)
    plan, timed_out = await await_plan(ctx, payload.plan.id, seconds)
    return _answer(payload, plan, timed_out, seconds)


def _answer(payload: PlanPayload, plan: PlanRead, timed_out: bool, seconds: float) -> PlanPayload:
    action = plan_hint(plan)
    if timed_out and action.reason == IN_PROGRESS_REASON:
        action = action.model_copy(update={"reason": f"Still delivering after {seconds:g}s; check the plan again."})
    return payload.model_copy(update={"plan": plan, "timed_out": timed_out, "recommended_next_action": action})
