"""Herald's orchestrator core: one service layer behind the GraphQL and MCP doors."""

__version__ = "0.1.0"
