"""What every operation receives: the runtime, who is calling, and hooks that run after commit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from server.after_commit import Action, AfterCommit

if TYPE_CHECKING:
    from server.runtime import Runtime

ProgressCallback = Callable[[float, float | None, str], Awaitable[None]]


@dataclass(frozen=True)
class Principal:
    workspace_id: str
    key_id: str
    name: str
    scopes: tuple[str, ...] = ("read", "write", "deliver", "admin")
    read_only: bool = False

    @property
    def label(self) -> str:
        return f"{self.name} ({self.key_id})"


@dataclass
class OpContext:
    runtime: Runtime
    principal: Principal
    request_id: str
    progress: ProgressCallback | None = None
    on_commit: AfterCommit = field(default_factory=AfterCommit)
    # The jobs an awaitDelivery create call committed due now, which it claims and delivers itself
    # after commit before sending their messages (server/delivery/eager.py).
    due_jobs: list[str] = field(default_factory=list)

    @property
    def workspace_id(self) -> str:
        return self.principal.workspace_id

    def after_commit(self, action: Action) -> None:
        """Side effects (enqueue, publish) that must only happen once the transaction committed."""
        self.on_commit.add(action)
