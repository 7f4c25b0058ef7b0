"""The one table of REST routes: every operation has its method and path here (a test fails otherwise).

Reads are ``GET`` with their arguments as query parameters (a list repeats its parameter); mutations
take a JSON body (camelCase, as on the other doors). A ``{name}`` in a path is the argument of that
wire name. The RFC's three routes are aliases of their ``/api/v1`` twins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from server.operations import BY_TOOL, Operation

Method = Literal["GET", "POST", "PATCH", "DELETE"]
V1 = "/api/v1"


@dataclass(frozen=True)
class RestRoute:
    tool: str
    method: Method
    path: str
    alias: bool = False  # one of the RFC's routes, beside the operation's /api/v1 route

    @property
    def op(self) -> Operation:
        return BY_TOOL[self.tool]

    @property
    def path_fields(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]

    @property
    def operation_id(self) -> str:
        return f"{self.tool}_rfc" if self.alias else self.tool


def _v1(tool: str, method: Method, path: str) -> RestRoute:
    return RestRoute(tool, method, V1 + path)


ROUTES: tuple[RestRoute, ...] = (
    _v1("list_channels", "GET", "/channels"),
    _v1("create_distribution_target", "POST", "/targets"),
    _v1("list_distribution_targets", "GET", "/targets"),
    _v1("get_distribution_target", "GET", "/targets/{id}"),
    _v1("update_distribution_target", "PATCH", "/targets/{id}"),
    _v1("pause_distribution_target", "POST", "/targets/{id}/pause"),
    _v1("resume_distribution_target", "POST", "/targets/{id}/resume"),
    _v1("rotate_target_signing_secret", "POST", "/targets/{id}/rotate-signing-secret"),
    _v1("test_distribution_target", "POST", "/targets/{id}/test"),
    _v1("upsert_recipients", "POST", "/recipients"),
    _v1("list_recipients", "GET", "/recipients"),
    _v1("get_recipient", "GET", "/recipients/{id}"),
    _v1("delete_recipients", "POST", "/recipients/delete"),
    _v1("unsubscribe_recipient", "POST", "/recipients/unsubscribe"),
    _v1("create_distribution_plan", "POST", "/plans"),
    _v1("get_distribution_plan", "GET", "/plans/{id}"),
    _v1("list_distribution_plans", "GET", "/plans"),
    _v1("cancel_distribution_plan", "POST", "/plans/{id}/cancel"),
    _v1("pause_distribution_plan", "POST", "/plans/{id}/pause"),
    _v1("resume_distribution_plan", "POST", "/plans/{id}/resume"),
    _v1("retry_failed_jobs", "POST", "/plans/{planId}/retry-failed-jobs"),
    _v1("get_plan_report", "GET", "/plans/{id}/report"),
    _v1("list_plan_jobs", "GET", "/plans/{planId}/jobs"),
    _v1("create_distribution_schedule", "POST", "/schedules"),
    _v1("get_distribution_schedule", "GET", "/schedules/{id}"),
    _v1("list_distribution_schedules", "GET", "/schedules"),
    _v1("update_distribution_schedule", "PATCH", "/schedules/{id}"),
    _v1("delete_distribution_schedule", "DELETE", "/schedules/{id}"),
    _v1("pause_distribution_schedule", "POST", "/schedules/{id}/pause"),
    _v1("resume_distribution_schedule", "POST", "/schedules/{id}/resume"),
    _v1("trigger_distribution_schedule", "POST", "/schedules/{id}/trigger"),
    _v1("backfill_distribution_schedule", "POST", "/schedules/{id}/backfill"),
    _v1("replay_dead_letters", "POST", "/dead-letters/replay"),
    _v1("list_dead_letters", "GET", "/dead-letters"),
    _v1("get_dead_letter", "GET", "/dead-letters/{id}"),
    _v1("list_operational_events", "GET", "/events"),
    _v1("halt_deliveries", "POST", "/deliveries/halt"),
    _v1("resume_deliveries", "POST", "/deliveries/resume"),
    _v1("create_api_key", "POST", "/api-keys"),
    _v1("list_api_keys", "GET", "/api-keys"),
    _v1("revoke_api_key", "POST", "/api-keys/{id}/revoke"),
    _v1("list_audit_events", "GET", "/audit-events"),
    _v1("list_workers", "GET", "/workers"),
    _v1("create_alert_rule", "POST", "/alert-rules"),
    _v1("list_alert_rules", "GET", "/alert-rules"),
    _v1("delete_alert_rule", "DELETE", "/alert-rules/{id}"),
    # The RFC's routes, exactly as it names them.
    RestRoute("create_distribution_target", "POST", "/api/distribution/targets", alias=True),
    RestRoute("create_distribution_plan", "POST", "/api/distribution/plans", alias=True),
    RestRoute("get_distribution_plan", "GET", "/api/distribution/plans/{id}", alias=True),
)

# Live progress of one plan as server-sent events (not an operation: a stream over get_distribution_plan's data).
PLAN_EVENTS_PATH = V1 + "/plans/{id}/events"
OPENAPI_PATH = V1 + "/openapi.json"


def missing_routes() -> list[str]:
    """Operations without a /api/v1 route (the contract test asserts there are none)."""
    routed = {route.tool for route in ROUTES if not route.alias}
    return [tool for tool in BY_TOOL if tool not in routed]
