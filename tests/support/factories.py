"""Plain factory functions for tests (no fixture soup)."""

from __future__ import annotations

import atexit
import re
import shutil
import sqlite3
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from server.config import Settings
from server.context import OpContext, Principal
from server.dispatch import run_operation
from server.keys.service import authenticate, create_key
from server.migrate import upgrade
from server.operations import BY_TOOL
from server.runtime import Runtime, build_runtime
from tests.support import services

if TYPE_CHECKING:
    from tests.support.doors import Doors

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


_template: list[Path] = []


def _migrated_template() -> Path:
    """A SQLite database migrated to head once per test process."""
    if not _template:
        folder = Path(tempfile.mkdtemp(prefix="herald-test-template-"))
        atexit.register(shutil.rmtree, folder, True)
        rt = build_runtime(test_settings(folder))
        upgrade(rt.engine)
        rt.close()
        _template.append(folder / "herald.db")
    return _template[0]


def runtime(data_dir: Path, **overrides: Any) -> Runtime:
    """A runtime on a migrated database in ``data_dir``.

    On SQLite the database is a copy of one migrated once per process: running the migrations for
    every test costs more than most tests (tests/migrations checks the migrations themselves).
    """
    settings = test_settings(data_dir, **overrides)
    if settings.database_url is None and not (data_dir / "herald.db").exists():
        with sqlite3.connect(_migrated_template()) as source, sqlite3.connect(data_dir / "herald.db") as copy:
            source.backup(copy)
    rt = build_runtime(settings)
    upgrade(rt.engine)
    return rt


# Parametrise a fixture with these to run its tests on both databases (PostgreSQL as an integration test).
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]


def runtime_on(database: str, request: pytest.FixtureRequest, data_dir: Path, **overrides: Any) -> Runtime:
    """``runtime`` on ``database`` (one of DATABASES): PostgreSQL in a fresh schema dropped after the test."""
    if database == "postgresql":
        schema = re.sub(r"\W", "_", f"herald_{request.node.name[:24]}_{services.RUN_TAG}").lower()
        overrides["database_url"] = services.postgres_schema_url(schema)
        request.addfinalizer(lambda: services.drop_postgres_schema(schema))
    rt = runtime(data_dir, **overrides)
    request.addfinalizer(rt.close)
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


# Retries in milliseconds instead of seconds, for targets meant to fail and recover.
FAST_RETRY = {"maxAttempts": 10, "baseDelaySeconds": 0.01, "maxDelaySeconds": 0.02}


async def stub_target(d: Doors, name: str = "stub", config: dict[str, Any] | None = None, **fields: Any) -> str:
    """A stub target created through the MCP door (``config`` e.g. failTimes, failWith); returns its id."""
    body = await d.ok("create_distribution_target", name=name, channel="stub", config=config or {}, **fields)
    target_id: str = body["target"]["id"]
    return target_id


async def webhook_target(d: Doors, url: str, name: str = "hook", **fields: Any) -> str:
    """A webhook target at ``url`` (usually ``receiver.url + "/path"``) created through the MCP door."""
    body = await d.ok("create_distribution_target", name=name, channel="webhook", config={"url": url}, **fields)
    target_id: str = body["target"]["id"]
    return target_id


async def plan(d: Doors, *target_ids: str, **fields: Any) -> dict[str, Any]:
    """A plan of fresh content to ``target_ids`` through the MCP door; returns the whole result body."""
    return await d.ok(
        "create_distribution_plan",
        content=fields.pop("content", None) or content(),
        targetIds=list(target_ids),
        **fields,
    )


__all__ = [
    "FAST_RETRY",
    "call",
    "content",
    "plan",
    "principal",
    "runtime",
    "stub_target",
    "test_settings",
    "webhook_target",
]
