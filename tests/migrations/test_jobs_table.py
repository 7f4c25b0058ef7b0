"""What each row of a plan's COPY into distribution_jobs pays for: its foreign keys and indexes, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from server.config import Settings
from server.db import make_engine
from server.migrate import upgrade
from tests.support import services

INDEXES = {
    "ix_distribution_jobs_target_id": ["target_id"],
    "ix_jobs_content_target": ["workspace_id", "content_key", "target_id"],
    "ix_jobs_fallback_of": ["fallback_of"],
    "ix_jobs_plan_id_id": ["plan_id", "id"],
    "ix_jobs_status_next_attempt": ["status", "next_attempt_at"],
    "ix_jobs_unqueued": ["next_attempt_at"],
}


def check(url: str, data_dir: Path, where: str) -> None:
    engine = make_engine(Settings(database_url=url, data_dir=data_dir))
    try:
        upgrade(engine)
        found = inspect(engine)
        keys = {
            (tuple(fk["constrained_columns"]), fk["referred_table"])
            for fk in found.get_foreign_keys("distribution_jobs")
        }
        assert keys == {(("plan_id",), "distribution_plans"), (("target_id",), "distribution_targets")}
        indexes = {index["name"]: index for index in found.get_indexes("distribution_jobs")}
        assert {name: index["column_names"] for name, index in indexes.items()} == INDEXES
        assert "fallback_of IS NOT NULL" in str(indexes["ix_jobs_fallback_of"]["dialect_options"][where])
    finally:
        engine.dispose()


def test_sqlite(tmp_path: Path) -> None:
    check(f"sqlite:///{tmp_path}/herald.db", tmp_path, "sqlite_where")


@pytest.mark.integration
def test_postgresql(tmp_path: Path) -> None:
    schema = f"herald_jobs_table_{services.RUN_TAG}"
    try:
        check(services.postgres_schema_url(schema), tmp_path, "postgresql_where")
    finally:
        services.drop_postgres_schema(schema)
