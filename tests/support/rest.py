"""Call any registry operation over the REST door from plain (MCP-style) arguments, for generic door tests."""

from __future__ import annotations

import json
from typing import Any

from rest_api.routes import ROUTES, RestRoute

V1_ROUTES = {route.tool: route for route in ROUTES if not route.alias}


def query_value(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def request_for(tool: str, arguments: dict[str, Any], route: RestRoute | None = None) -> dict[str, Any]:
    """``method``, ``url`` and ``params`` or ``json`` of the call (httpx / TestClient keyword arguments)."""
    route = route or V1_ROUTES[tool]
    rest = dict(arguments)
    url = route.path
    for name in route.path_fields:
        url = url.replace("{" + name + "}", str(rest.pop(name)))
    if route.op.mutation:
        return {"method": route.method, "url": url, "json": rest}
    params = [
        (name, query_value(item))
        for name, value in rest.items()
        for item in (value if isinstance(value, list) else [value])
    ]
    return {"method": route.method, "url": url, "params": params}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
