"""`herald mcp`: the MCP door over stdio for desktop clients, authenticated by HERALD_API_KEY."""

from __future__ import annotations

import sys

from mcp_tools.server import build_mcp_server, fixed_principal
from server.config import Settings
from server.errors import Unauthorized
from server.keys.service import authenticate, has_any_key
from server.migrate import upgrade
from server.runtime import build_runtime
from tasks.worker import DeliveryWorker


def run_stdio(settings: Settings, worker: bool = True) -> int:
    if settings.database_url is None and not (settings.data_dir / "herald.db").exists():
        print(
            f"herald mcp: no Herald database in {settings.data_dir} (from {settings.data_dir_source}), so no API key "
            "can be valid here. Set HERALD_DATA_DIR to the directory the server uses (it says which on start).",
            file=sys.stderr,
        )
        return 3
    rt = build_runtime(settings)
    if settings.auto_migrate:
        upgrade(rt.engine)
    try:
        principal = authenticate(rt, f"Bearer {settings.api_key}" if settings.api_key else None)
    except Unauthorized as exc:
        if not has_any_key(rt):
            cause = "this database has no API key at all: is it the one the server uses?"
        else:
            cause = exc.message
        print(
            f"herald mcp: set HERALD_API_KEY to a valid key of the database in use ({settings.describe_storage()}): "
            f"{cause} {exc.remediation}",
            file=sys.stderr,
        )
        rt.close()
        return 4
    delivery = DeliveryWorker(rt, consume=worker)
    delivery.start()
    try:
        build_mcp_server(rt, fixed_principal(principal), include_mutations=not settings.mcp_hide_mutations).run("stdio")
    finally:
        delivery.stop()
        rt.close()
    return 0
