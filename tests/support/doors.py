"""Both doors in memory against one embedded runtime: the MCP SDK client and GraphQL over ASGI HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.types import TextContent
from sqlmodel import func, select

from mcp_tools.server import build_mcp_server, fixed_principal
from server.context import Principal
from server.db import session_scope
from server.models import Attempt, AuditEvent, IdempotencyRecord, Job, Plan, Receipt, Target
from server.runtime import Runtime
from tasks.worker import DeliveryWorker
from tests.support import factories

TABLES = (Target, Plan, Job, Attempt, Receipt, IdempotencyRecord, AuditEvent)


@dataclass
class Doors:
    rt: Runtime
    mcp: Client
    key: str
    principal: Principal

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        """Call a tool; returns the structured body (an error body when isError)."""
        result = await self.mcp.call_tool(tool, arguments)
        body = result.structured_content
        [text] = result.content
        assert isinstance(text, TextContent) and body is not None and json.loads(text.text) == body
        body["_isError"] = bool(result.is_error)
        return body

    async def ok(self, tool: str, **arguments: Any) -> dict[str, Any]:
        body = await self.call(tool, **arguments)
        assert not body.pop("_isError"), body
        return body

    async def error(self, tool: str, **arguments: Any) -> dict[str, Any]:
        body = await self.call(tool, **arguments)
        assert body.pop("_isError"), body
        return body

    def counts(self) -> dict[str, int]:
        with session_scope(self.rt.engine) as session:
            return {m.__tablename__: session.exec(select(func.count()).select_from(m)).one() for m in TABLES}


@asynccontextmanager
async def doors(data_dir: Path, **settings: Any) -> AsyncIterator[Doors]:
    rt = factories.runtime(data_dir, **settings)
    principal, key = factories.principal(rt)
    worker = DeliveryWorker(rt)
    worker.start()
    try:
        async with Client(build_mcp_server(rt, fixed_principal(principal))) as client:
            yield Doors(rt=rt, mcp=client, key=key, principal=principal)
    finally:
        worker.stop()
        rt.close()
