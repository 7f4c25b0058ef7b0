"""One Alembic history that applies on SQLite and PostgreSQL and matches the models exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from server.config import Settings
from server.db import make_engine
from server.migrate import alembic_config, upgrade
from tests.support import services

TABLES = {
    "workspaces",
    "api_keys",
    "distribution_targets",
    "distribution_plans",
    "distribution_jobs",
    "delivery_attempts",
    "distribution_receipts",
    "idempotency_records",
    "audit_events",
    "alembic_version",
    "dead_letters",
    "operational_events",
    "recipients",
    "plan_recipient_content",
    "plan_attachments",
    "feed_entries",
    "distribution_schedules",
    "schedule_runs",
    "worker_heartbeats",
    "selection_pools",
    "selection_members",
    "selection_picks",
    "alert_rules",
    "alert_subject_states",
}


def check(url: str, data_dir: Path) -> None:
    engine = make_engine(Settings(database_url=url, data_dir=data_dir))
    try:
        upgrade(engine)
        upgrade(engine)  # idempotent: a second start migrates nothing
        assert set(inspect(engine).get_table_names()) == TABLES
        config = alembic_config(engine)
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            command.check(config)  # raises if the models and the migrations disagree
    finally:
        engine.dispose()


def test_sqlite(tmp_path: Path) -> None:
    check(f"sqlite:///{tmp_path}/herald.db", tmp_path)


@pytest.mark.integration
def test_postgresql(tmp_path: Path) -> None:
    schema = f"herald_mig_{services.RUN_TAG}"
    url = services.postgres_schema_url(schema)
    try:
        check(url, tmp_path)
    finally:
        services.drop_postgres_schema(schema)
