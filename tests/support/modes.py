"""Run a doors-based test embedded (SQLite, in-process broker) and on PostgreSQL + Redis (integration)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support import services

# Parametrise a fixture with these; ``mode_settings`` turns the parameter into doors() settings.
MODES = ["sqlite", pytest.param("postgresql+redis", marks=pytest.mark.integration)]


def mode_settings(request: pytest.FixtureRequest, **settings: Any) -> dict[str, Any]:
    """``settings`` for ``request.param``: on PostgreSQL + Redis a fresh schema and namespace, dropped afterwards."""
    if request.param == "sqlite":
        return settings
    tag = re.sub(r"\W", "_", f"{request.node.name[:24]}_{services.RUN_TAG}").lower()
    schema, namespace = f"herald_{tag}", services.redis_namespace(f"herald-{tag}")
    url = services.postgres_schema_url(schema)
    request.addfinalizer(lambda: services.drop_postgres_schema(schema))
    request.addfinalizer(lambda: services.drop_redis_namespace(namespace))
    return {**settings, "database_url": url, "redis_url": services.REDIS_URL, "redis_namespace": namespace}
