"""Real PostgreSQL and Redis for integration tests: a fresh schema and key namespace per run.

Locally a missing service skips those tests; under CI=true it fails the run.
"""

from __future__ import annotations

import os
import secrets

import psycopg
import pytest
import redis

PG_URL = os.environ.get("HERALD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("HERALD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_TAG = f"t{os.getpid()}_{secrets.token_hex(3)}"


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is not reachable ({exc}); integration tests need it"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: failing instead of skipping)")
    pytest.skip(message)


def postgres_schema_url(name: str) -> str:
    """Create schema ``name`` and return a URL whose connections use it."""
    try:
        with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            conn.execute(f'CREATE SCHEMA "{name}"')
    except psycopg.OperationalError as exc:
        _unavailable("PostgreSQL", exc)
    return f"{PG_URL}?options=-csearch_path%3D{name}"


def drop_postgres_schema(name: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def redis_namespace(name: str) -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        _unavailable("Redis", exc)
    return name


def drop_redis_namespace(name: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{name}:*", count=1000))
    if keys:
        client.delete(*keys)
