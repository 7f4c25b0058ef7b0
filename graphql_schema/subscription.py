"""``subscription { planProgress(id) }``: a plan's live progress over graphql-transport-ws.

The events are ``server.plans.live.plan_progress``'s (a snapshot first, the last with ``final: true``,
then the subscription completes). A key without the read scope or a plan of another workspace gets one
``OperationError`` and the subscription completes, as the other fields answer expected errors as data.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Annotated, Any, Union

import anyio
import strawberry
from strawberry.types import Info

from graphql_schema.types import output_type, to_graphql
from server.common import OperationError
from server.dispatch import error_body
from server.errors import HeraldError
from server.plans.live import PlanProgressEvent, check_watch, plan_progress

if TYPE_CHECKING:
    PlanProgressResult = Any
else:
    PlanProgressResult = Annotated[
        Union[output_type(PlanProgressEvent), output_type(OperationError)],  # noqa: UP007
        strawberry.union("PlanProgressResult"),
    ]


@strawberry.type
class Subscription:
    @strawberry.subscription(
        name="planProgress",
        description="A plan's progress as it happens: a snapshot, one event per burst of deliveries, "
        "and the final event (final: true), after which the subscription completes.",
    )
    async def plan_progress(self, info: Info, id: strawberry.ID) -> AsyncGenerator[PlanProgressResult, None]:
        context: dict[str, Any] = info.context
        runtime, principal = context["runtime"], context["principal"]
        try:
            await anyio.to_thread.run_sync(check_watch, runtime, principal, str(id))
        except HeraldError as exc:
            yield to_graphql(error_body(exc, context.get("request_id")))
            return
        async for event in plan_progress(runtime, principal.workspace_id, str(id)):
            yield to_graphql(event)
