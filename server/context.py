"""What every operation receives: the runtime, who is calling, and hooks that run after commit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
    _after_commit: list[Callable[[], Any]] = field(default_factory=list)

    @property
    def workspace_id(self) -> str:
        return self.principal.workspace_id

    def after_commit(self, action: Callable[[], Any]) -> None:
        """Side effects (enqueue, publish) that must only happen once the transaction committed."""
        self._after_commit.append(action)

    def run_after_commit(self) -> None:
        actions, self._after_commit = self._after_commit, []
        for action in actions:
            action()

    def drop_after_commit(self) -> None:
        self._after_commit = []
