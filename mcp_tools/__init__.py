"""The MCP door: one tool per registry operation, over streamable HTTP (/mcp) and stdio."""
