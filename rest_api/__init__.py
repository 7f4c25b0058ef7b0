"""The REST door: resource routes over the operation registry (a third thin twin of GraphQL and MCP)."""
