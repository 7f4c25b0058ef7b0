"""`herald mcp`: the MCP door over stdio for desktop clients, authenticated by HERALD_API_KEY."""

from __future__ import annotations

import sys

from mcp_tools.server import build_mcp_server, fixed_principal
from server.config import Settings
from server.errors import Unauthorized
from server.keys.service import authenticate
from server.migrate import upgrade
from server.runtime import build_runtime
from tasks.worker import DeliveryWorker


def run_stdio(settings: Settings, worker: bool = True) -> int:
    rt = build_runtime(settings)
    if settings.auto_migrate:
        upgrade(rt.engine)
    try:
        principal = authenticate(rt, f"Bearer {settings.api_key}" if settings.api_key else None)
    except Unauthorized as exc:
        print(f"herald mcp: set HERALD_API_KEY to a valid key ({exc.message}) {exc.remediation}", file=sys.stderr)
        return 2
    delivery = DeliveryWorker(rt, consume=worker)
    delivery.start()
    try:
        build_mcp_server(rt, fixed_principal(principal), include_mutations=not settings.mcp_hide_mutations).run("stdio")
    finally:
        delivery.stop()
        rt.close()
    return 0
