"""The operation registry: every operation once, with what both doors need to expose it.

MCP tool names are snake_case verbs; GraphQL fields are their camelCase twins. The doors
are generated from this table, and the parity test walks both against it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlmodel import Session

from server import hints
from server.activity import service as activity
from server.activity.audit_ops import AuditList, ListAuditInput, list_audit_events
from server.activity.schemas import EventList, HaltInput, HaltPayload, ListEventsInput, ResumeDeliveriesInput
from server.alerts import service as alerts
from server.alerts.schemas import (
    AlertRuleList,
    AlertRulePayload,
    CreateAlertRuleInput,
    DeleteAlertRuleInput,
    ListAlertRulesInput,
)
from server.channels import service as channels
from server.channels.schemas import ChannelList, ListChannelsInput
from server.context import OpContext
from server.deadletters import service as deadletters
from server.deadletters.schemas import DeadLetterDetailResult, DeadLetterList, GetDeadLetterInput, ListDeadLettersInput
from server.delivery.eager import eager_delivery
from server.keys import operations as keys
from server.keys.schemas import ApiKeyList, ApiKeyPayload, CreateApiKeyInput, ListApiKeysInput, RevokeApiKeyInput
from server.plans import jobs_page, pausing
from server.plans import report as reports
from server.plans import service as plans
from server.plans.schemas import (
    CreatePlanInput,
    JobsRequeuedPayload,
    ListPlanJobsInput,
    ListPlansInput,
    PausePlanInput,
    PlanIdInput,
    PlanJobList,
    PlanList,
    PlanMutationInput,
    PlanPayload,
    PlanReportInput,
    PlanReportResult,
    PlanResult,
    ReplayDeadLettersInput,
    RetryFailedJobsInput,
)
from server.plans.waiting import with_delivery_wait
from server.recipients import service as recipients
from server.recipients.schemas import (
    DeleteRecipientsInput,
    DeleteRecipientsPayload,
    GetRecipientInput,
    ListRecipientsInput,
    RecipientDetailResult,
    RecipientList,
    RecipientPayload,
    UnsubscribeRecipientInput,
    UpsertRecipientsInput,
    UpsertRecipientsPayload,
)
from server.schedules import service as schedules
from server.schedules.schemas import (
    BackfillScheduleInput,
    CreateScheduleInput,
    ListSchedulesInput,
    PauseScheduleInput,
    ScheduleIdInput,
    ScheduleList,
    ScheduleMutationInput,
    SchedulePayload,
    ScheduleResult,
    TriggerScheduleInput,
    UpdateScheduleInput,
)
from server.targets import service as targets
from server.targets import testing
from server.targets.schemas import (
    CreateTargetInput,
    GetTargetInput,
    ListTargetsInput,
    PauseTargetInput,
    RotateSecretInput,
    TargetIdInput,
    TargetList,
    TargetPayload,
    TargetResult,
    TestTargetPayload,
    UpdateTargetInput,
)
from server.wire import WireModel
from server.workers import service as workers
from server.workers.schemas import ListWorkersInput, WorkerStatusResult

Scope = Literal["read", "write", "deliver", "admin"]


@dataclass(frozen=True)
class Operation:
    tool: str
    graphql: str
    kind: Literal["query", "mutation"]
    summary: str
    input_model: type[WireModel]
    output_model: type[WireModel]
    handler: Callable[[OpContext, Session, Any], Any]
    scope: Scope = "read"
    open_world: bool = False
    destructive: bool = False
    after: Callable[[OpContext, Any, Any], Awaitable[Any]] | None = None
    # The reason of a dry run's "do it for real" hint, unless the handler gives its own (hints.for_real).
    confirm_reason: str = "The dry run passed; call again without dryRun to do it for real."

    @property
    def mutation(self) -> bool:
        return self.kind == "mutation"


async def _await_plan(ctx: OpContext, data: CreatePlanInput, result: PlanPayload) -> PlanPayload:
    return await with_delivery_wait(ctx, result, data.await_delivery, data.await_timeout_seconds, eager_delivery(ctx))


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "list_channels",
        "channels",
        "query",
        "List the channels a target can use: addressing, config and credentials JSON Schemas, limits.",
        ListChannelsInput,
        ChannelList,
        channels.list_channels,
    ),
    Operation(
        "create_distribution_target",
        "createDistributionTarget",
        "mutation",
        "Register a destination (webhook, http, feed, email, chat and social channels, stub; list_channels has "
        "their schemas) with its config and write-only credentials.",
        CreateTargetInput,
        TargetPayload,
        targets.create_target,
        scope="write",
        confirm_reason="The target is valid; create it for real.",
    ),
    Operation(
        "list_distribution_targets",
        "distributionTargets",
        "query",
        "List targets in the workspace, newest last, filtered by channel or label; paginated.",
        ListTargetsInput,
        TargetList,
        targets.list_targets,
    ),
    Operation(
        "get_distribution_target",
        "distributionTarget",
        "query",
        "Read one target: config, labels, pause and health state (never its credentials).",
        GetTargetInput,
        TargetResult,
        targets.get_target,
    ),
    Operation(
        "update_distribution_target",
        "updateDistributionTarget",
        "mutation",
        "Change a target's name, config, credentials, labels, retry policy or active flag.",
        UpdateTargetInput,
        TargetPayload,
        targets.update_target,
        scope="write",
        confirm_reason="The update is valid; apply it.",
    ),
    Operation(
        "pause_distribution_target",
        "pauseDistributionTarget",
        "mutation",
        "Stop deliveries to a target for a while or until resumed; its jobs wait without spending attempts.",
        PauseTargetInput,
        TargetPayload,
        targets.pause_target,
        scope="write",
        confirm_reason="Pause for real; its jobs wait until it resumes.",
    ),
    Operation(
        "resume_distribution_target",
        "resumeDistributionTarget",
        "mutation",
        "Lift a target's pause (manual or after a 429) so its waiting jobs deliver now.",
        TargetIdInput,
        TargetPayload,
        targets.resume_target,
        scope="write",
        confirm_reason="Resume for real; its waiting jobs deliver now.",
    ),
    Operation(
        "rotate_target_signing_secret",
        "rotateTargetSigningSecret",
        "mutation",
        "Issue a new webhook signing secret; the old one keeps signing alongside it for an overlap (default 24 h).",
        RotateSecretInput,
        TargetPayload,
        targets.rotate_signing_secret,
        scope="admin",
    ),
    Operation(
        "test_distribution_target",
        "testDistributionTarget",
        "mutation",
        "Send one test delivery to a target now and report the outcome.",
        TargetIdInput,
        TestTargetPayload,
        testing.test_target,
        scope="deliver",
        open_world=True,
        after=testing.send_test,
    ),
    Operation(
        "upsert_recipients",
        "upsertRecipients",
        "mutation",
        "Create or update up to 10,000 recipients in one call, matched on externalId: addresses per channel, "
        "attributes, IANA time zone, labels (distribution lists).",
        UpsertRecipientsInput,
        UpsertRecipientsPayload,
        recipients.upsert_recipients,
        scope="write",
        confirm_reason="The recipients are valid; upsert them for real.",
    ),
    Operation(
        "list_recipients",
        "recipients",
        "query",
        "List recipients, oldest first, by label, channel or text search; paginated.",
        ListRecipientsInput,
        RecipientList,
        recipients.list_recipients,
    ),
    Operation(
        "get_recipient",
        "recipient",
        "query",
        "Read one recipient by id or externalId: addresses, attributes, labels, unsubscriptions, bounces.",
        GetRecipientInput,
        RecipientDetailResult,
        recipients.get_recipient,
    ),
    Operation(
        "delete_recipients",
        "deleteRecipients",
        "mutation",
        "Delete recipients by ids or externalIds; jobs already made for them stay.",
        DeleteRecipientsInput,
        DeleteRecipientsPayload,
        recipients.delete_recipients,
        scope="write",
        destructive=True,
    ),
    Operation(
        "unsubscribe_recipient",
        "unsubscribeRecipient",
        "mutation",
        "Unsubscribe a recipient from one channel or all: later plans skip it there.",
        UnsubscribeRecipientInput,
        RecipientPayload,
        recipients.unsubscribe_recipient,
        scope="write",
    ),
    Operation(
        "create_distribution_plan",
        "createDistributionPlan",
        "mutation",
        "Distribute one content version to targets, now or at scheduledAt; dry run previews each payload.",
        CreatePlanInput,
        PlanPayload,
        plans.create_plan,
        scope="deliver",
        open_world=True,
        after=_await_plan,
    ),
    Operation(
        "get_distribution_plan",
        "distributionPlan",
        "query",
        "Read a plan: status, counts, and each job's attempts, last error and receipt.",
        PlanIdInput,
        PlanResult,
        plans.get_plan,
    ),
    Operation(
        "list_plan_jobs",
        "planJobs",
        "query",
        "One page of a plan's jobs (oldest first, filtered by status) with every attempt, error and receipt.",
        ListPlanJobsInput,
        PlanJobList,
        jobs_page.list_plan_jobs,
    ),
    Operation(
        "list_distribution_plans",
        "distributionPlans",
        "query",
        "List plans, newest first, optionally by status; paginated.",
        ListPlansInput,
        PlanList,
        plans.list_plans,
    ),
    Operation(
        "cancel_distribution_plan",
        "cancelDistributionPlan",
        "mutation",
        "Cancel a plan's waiting jobs; attempts already in flight finish.",
        PlanMutationInput,
        PlanPayload,
        plans.cancel_plan,
        scope="deliver",
        destructive=True,
    ),
    Operation(
        "pause_distribution_plan",
        "pauseDistributionPlan",
        "mutation",
        "Pause a plan: its waiting jobs hold without spending attempts until resume_distribution_plan.",
        PausePlanInput,
        PlanPayload,
        pausing.pause_plan,
        scope="deliver",
        confirm_reason="Pause for real; its waiting jobs hold.",
    ),
    Operation(
        "resume_distribution_plan",
        "resumeDistributionPlan",
        "mutation",
        "Resume a paused plan (by an operator or its haltWhen guard): its held jobs are sent now.",
        PlanMutationInput,
        PlanPayload,
        pausing.resume_plan,
        scope="deliver",
        open_world=True,
        confirm_reason="Resume for real; its held jobs are sent now.",
    ),
    Operation(
        "create_distribution_schedule",
        "createDistributionSchedule",
        "mutation",
        "Run a plan template on a cron or interval in a time zone (DST rule, jitter, overlap, catch-up), "
        "with fixed or fetched content and skip conditions; dry run shows the next runs.",
        CreateScheduleInput,
        SchedulePayload,
        schedules.create_schedule,
        scope="deliver",
        confirm_reason="The schedule is valid; create it.",
    ),
    Operation(
        "get_distribution_schedule",
        "distributionSchedule",
        "query",
        "Read a schedule: its next runs (schedule's zone and UTC) and recent runs with their plans or skip reasons.",
        ScheduleIdInput,
        ScheduleResult,
        schedules.get_schedule,
    ),
    Operation(
        "list_distribution_schedules",
        "distributionSchedules",
        "query",
        "List schedules, newest first, optionally only paused or active ones; paginated.",
        ListSchedulesInput,
        ScheduleList,
        schedules.list_schedules,
    ),
    Operation(
        "update_distribution_schedule",
        "updateDistributionSchedule",
        "mutation",
        "Change a schedule's timing, policies, plan template (fixed content), content source or conditions.",
        UpdateScheduleInput,
        SchedulePayload,
        schedules.update_schedule,
        scope="deliver",
        confirm_reason="The update is valid; apply it.",
    ),
    Operation(
        "delete_distribution_schedule",
        "deleteDistributionSchedule",
        "mutation",
        "Delete a schedule and its run history; plans of earlier runs stay.",
        ScheduleMutationInput,
        SchedulePayload,
        schedules.delete_schedule,
        scope="deliver",
        destructive=True,
        confirm_reason="Delete for real.",
    ),
    Operation(
        "pause_distribution_schedule",
        "pauseDistributionSchedule",
        "mutation",
        "Pause a schedule with a note: no scheduled run fires (trigger and backfill still do).",
        PauseScheduleInput,
        SchedulePayload,
        schedules.pause_schedule,
        scope="deliver",
    ),
    Operation(
        "resume_distribution_schedule",
        "resumeDistributionSchedule",
        "mutation",
        "Resume a paused schedule from now on (time spent paused is not caught up).",
        ScheduleMutationInput,
        SchedulePayload,
        schedules.resume_schedule,
        scope="deliver",
    ),
    Operation(
        "trigger_distribution_schedule",
        "triggerDistributionSchedule",
        "mutation",
        "Run a schedule once now (its conditions and overlap policy apply, pause does not).",
        TriggerScheduleInput,
        SchedulePayload,
        schedules.trigger_schedule,
        scope="deliver",
        open_world=True,
        after=schedules.fire_after,
    ),
    Operation(
        "backfill_distribution_schedule",
        "backfillDistributionSchedule",
        "mutation",
        "Run every nominal time of a past range now (at most 100; times that already ran are left out).",
        BackfillScheduleInput,
        SchedulePayload,
        schedules.backfill_schedule,
        scope="deliver",
        open_world=True,
        after=schedules.fire_after,
    ),
    Operation(
        "retry_failed_jobs",
        "retryFailedJobs",
        "mutation",
        "Queue a plan's failed and dead jobs again, with a fresh retry budget.",
        RetryFailedJobsInput,
        JobsRequeuedPayload,
        plans.retry_failed_jobs,
        scope="deliver",
        open_world=True,
    ),
    Operation(
        "replay_dead_letters",
        "replayDeadLetters",
        "mutation",
        "Queue dead-lettered jobs again, selected by plan, target or job ids.",
        ReplayDeadLettersInput,
        JobsRequeuedPayload,
        deadletters.replay_dead_letters,
        scope="admin",
        open_world=True,
    ),
    Operation(
        "list_dead_letters",
        "deadLetters",
        "query",
        "List dead-lettered jobs by plan, target, error class or time range, newest first; paginated.",
        ListDeadLettersInput,
        DeadLetterList,
        deadletters.list_dead_letters,
    ),
    Operation(
        "get_dead_letter",
        "deadLetter",
        "query",
        "Inspect one dead letter: the sanitized request that was sent and the response that came back.",
        GetDeadLetterInput,
        DeadLetterDetailResult,
        deadletters.get_dead_letter,
    ),
    Operation(
        "get_plan_report",
        "distributionPlanReport",
        "query",
        "A plan's delivery report: first-try and retried deliveries, failures, rates, p95 delivery time, "
        "slowest targets.",
        PlanReportInput,
        PlanReportResult,
        reports.get_plan_report,
    ),
    Operation(
        "list_operational_events",
        "operationalEvents",
        "query",
        "List operational events (pauses, circuit changes, dead jobs, plan outcomes, halts), newest first.",
        ListEventsInput,
        EventList,
        activity.list_events,
    ),
    Operation(
        "halt_deliveries",
        "haltDeliveries",
        "mutation",
        "Emergency stop: no new delivery request leaves this workspace until resume_deliveries.",
        HaltInput,
        HaltPayload,
        activity.halt_deliveries,
        scope="admin",
        destructive=True,
        confirm_reason="Halt for real.",
    ),
    Operation(
        "resume_deliveries",
        "resumeDeliveries",
        "mutation",
        "Lift a workspace halt; held jobs are queued again.",
        ResumeDeliveriesInput,
        HaltPayload,
        activity.resume_deliveries,
        scope="admin",
        open_world=True,
    ),
    Operation(
        "create_api_key",
        "createApiKey",
        "mutation",
        "Create an API key in this workspace with chosen scopes; the secret is shown once.",
        CreateApiKeyInput,
        ApiKeyPayload,
        keys.create_api_key,
        scope="admin",
        confirm_reason="Create the key for real; its secret is shown once.",
    ),
    Operation(
        "list_api_keys",
        "apiKeys",
        "query",
        "List this workspace's API keys (prefix, scopes, last use; never the secret).",
        ListApiKeysInput,
        ApiKeyList,
        keys.list_api_keys,
        scope="admin",
    ),
    Operation(
        "revoke_api_key",
        "revokeApiKey",
        "mutation",
        "Revoke an API key: it stops authenticating at once.",
        RevokeApiKeyInput,
        ApiKeyPayload,
        keys.revoke_api_key,
        scope="admin",
        destructive=True,
        confirm_reason="Revoke for real.",
    ),
    Operation(
        "list_audit_events",
        "auditEvents",
        "query",
        "Read the audit trail: who did what and when, with redacted input; filter by operation, key, outcome, time.",
        ListAuditInput,
        AuditList,
        list_audit_events,
        scope="admin",
    ),
)

OPERATIONS += (
    Operation(
        "list_workers",
        "workers",
        "query",
        "The delivery workers: how many are alive, when each last beat and last took a batch of jobs.",
        ListWorkersInput,
        WorkerStatusResult,
        workers.list_workers,
    ),
)

# Alert rules are admin: a rule makes Herald deliver every matching event of the whole workspace (any
# target's, any plan's) to a destination of its author's choosing, with no confirmation per delivery.
OPERATIONS += (
    Operation(
        "create_alert_rule",
        "createAlertRule",
        "mutation",
        "Deliver matching operational events (target.circuit_opened, job.dead, plan.kpi_missed, …) to a target, "
        "at most once per minIntervalSeconds per target, plan or workspace.",
        CreateAlertRuleInput,
        AlertRulePayload,
        alerts.create_alert_rule,
        scope="admin",
        confirm_reason="The rule is valid; create it.",
    ),
    Operation(
        "list_alert_rules",
        "alertRules",
        "query",
        "List the workspace's alert rules, oldest first; paginated.",
        ListAlertRulesInput,
        AlertRuleList,
        alerts.list_alert_rules,
    ),
    Operation(
        "delete_alert_rule",
        "deleteAlertRule",
        "mutation",
        "Delete an alert rule: no further alert from it (alerts already made stay as plans).",
        DeleteAlertRuleInput,
        AlertRulePayload,
        alerts.delete_alert_rule,
        scope="admin",
        destructive=True,
        confirm_reason="Delete the rule for real.",
    ),
)

BY_TOOL: dict[str, Operation] = {op.tool: op for op in OPERATIONS}
hints.GRAPHQL_NAMES.update({op.tool: op.graphql for op in OPERATIONS})
