"""Wire pieces shared by several operations: mutation flags, pagination, the error body."""

from __future__ import annotations

from pydantic import Field

from server.hints import NextAction
from server.wire import Id, WireModel

DRY_RUN = Field(False, description="Validate and preview only: nothing is written, sent or remembered.")
IDEMPOTENCY_KEY = Field(
    None,
    min_length=1,
    max_length=200,
    description="Same key + same request returns the first result for 24 h; a different request is refused.",
)
LIMIT = Field(50, ge=1, le=100, description="Page size (at most 100).")
CURSOR = Field(None, max_length=200, description="nextCursor from the previous page.")


class MutationInput(WireModel):
    dry_run: bool = DRY_RUN
    idempotency_key: str | None = IDEMPOTENCY_KEY


class MutationResult(WireModel):
    dry_run: bool = False
    replayed: bool = Field(False, description="True when this is the stored result of an earlier identical request.")
    recommended_next_action: NextAction


class OperationError(WireModel):
    code: str
    message: str
    remediation: str
    field: str | None = None
    request_id: Id | None = None
    recommended_next_action: NextAction
