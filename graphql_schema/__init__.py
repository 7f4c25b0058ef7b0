"""The GraphQL door: generated from the operation registry, a thin twin of ``mcp_tools``."""
