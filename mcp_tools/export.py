"""`python -m mcp_tools.export`: write the MCP tool list (the public contract) to tools.json."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from mcp_tools.server import build_mcp_server
from server.config import Settings
from server.runtime import build_runtime

TOOLS_FILE = Path(__file__).with_name("tools.json")


async def tool_list() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as scratch:
        rt = build_runtime(Settings(data_dir=Path(scratch)))
        try:
            tools = await build_mcp_server(rt).list_tools()
        finally:
            rt.close()
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]


def render(tools: list[dict[str, Any]]) -> str:
    return json.dumps(tools, indent=2, sort_keys=True) + "\n"


def main() -> None:
    TOOLS_FILE.write_text(render(asyncio.run(tool_list())))
    print(f"wrote {TOOLS_FILE}")


if __name__ == "__main__":
    main()
