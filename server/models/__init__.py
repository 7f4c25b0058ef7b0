"""Table models (SQLModel). Never exposed on the wire: services map them to data models."""

from server.models.alert import AlertRule, AlertSubjectState
from server.models.audit import AuditEvent
from server.models.delivery import Attempt, DeadLetter, Job, Receipt
from server.models.event import OperationalEvent
from server.models.feed import FeedEntryRow
from server.models.idempotency import IdempotencyRecord
from server.models.plan import Plan
from server.models.recipient import PlanAttachment, PlanRecipientContent, Recipient
from server.models.schedule import Schedule, ScheduleRun
from server.models.selection import SelectionMember, SelectionPick, SelectionPool
from server.models.target import Target, TargetState
from server.models.worker import WorkerHeartbeat
from server.models.workspace import ApiKey, Workspace, WorkspaceState

__all__ = [
    "AlertRule",
    "AlertSubjectState",
    "ApiKey",
    "Attempt",
    "AuditEvent",
    "DeadLetter",
    "FeedEntryRow",
    "IdempotencyRecord",
    "Job",
    "OperationalEvent",
    "Plan",
    "PlanAttachment",
    "PlanRecipientContent",
    "Receipt",
    "Recipient",
    "Schedule",
    "ScheduleRun",
    "SelectionMember",
    "SelectionPick",
    "SelectionPool",
    "Target",
    "TargetState",
    "WorkerHeartbeat",
    "Workspace",
    "WorkspaceState",
]
