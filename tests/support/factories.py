"""Plain factory functions for tests (no fixture soup)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from server.config import Settings
from server.context import OpContext, Principal
from server.dispatch import run_operation
from server.keys.service import authenticate, create_key
from server.migrate import upgrade
from server.operations import BY_TOOL
from server.runtime import Runtime, build_runtime

FAST = {
    "allowed_networks": "127.0.0.0/8",
    "retry_base_delay_seconds": 0.05,
    "retry_max_delay_seconds": 0.2,
    "default_pause_seconds": 1.0,
    "sweep_interval_seconds": 0.5,
    "worker_threads": 4,
    "bootstrap_key": False,
}


def test_settings(data_dir: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=data_dir, **{**FAST, **overrides})


def runtime(data_dir: Path, **overrides: Any) -> Runtime:
    rt = build_runtime(test_settings(data_dir, **overrides))
    upgrade(rt.engine)
    return rt


def principal(rt: Runtime, name: str = "tester") -> tuple[Principal, str]:
    key = create_key(rt, name)
    return authenticate(rt, f"Bearer {key.secret}"), key.secret


def call(rt: Runtime, tool: str, **arguments: Any) -> Any:
    """Run one operation through the dispatch pipeline (sync), as a fresh principal."""
    principal_, _ = principal(rt, f"p-{uuid.uuid4().hex[:8]}")
    op = BY_TOOL[tool]
    ctx = OpContext(runtime=rt, principal=principal_, request_id="req_test")
    return run_operation(op, ctx, op.input_model.model_validate(arguments))


def content(**overrides: Any) -> dict[str, Any]:
    return {
        "id": overrides.pop("id", f"note-{uuid.uuid4().hex[:8]}"),
        "version": "1",
        "title": "Market note",
        "body": "Rates held steady; the curve flattened.",
        **overrides,
    }


__all__ = ["call", "content", "principal", "runtime", "test_settings"]
