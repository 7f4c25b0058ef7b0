"""Alembic migrations, applied at start-up or by `herald migrate`, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import tempfile
from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("migrations")))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Server and workers may start together: one migrates, the others wait for it.
            connection.execute(text("SELECT pg_advisory_lock(4242001)"))
            connection.commit()
        try:
            config = alembic_config(engine)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        finally:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_unlock(4242001)"))
                connection.commit()


def next_revision(versions: Path) -> str:
    """Revisions are numbered in order: 0001, 0002, …"""
    numbers = [int(m.group(1)) for f in versions.glob("*.py") if (m := re.match(r"(\d{4})_", f.name))]
    return f"{max(numbers, default=0) + 1:04d}"


def autogenerate(message: str, scripts: Path | None = None) -> Path:
    """A new revision from the difference between the models and the migrations' head.

    The head is built in a scratch SQLite database, so no real one is touched; review the file
    (PostgreSQL-only types, data moves) before committing it.
    """
    scripts = scripts or Path(str(files("migrations")))
    versions = scripts / "versions"
    revision = next_revision(versions)
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40] or "change"
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{scratch}/head.db")
        config = alembic_config(engine)
        config.set_main_option("script_location", str(scripts))
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            command.revision(config, message=message, autogenerate=True, rev_id=revision)
        engine.dispose()
    made = next(versions.glob(f"{revision}_*.py"))
    return made.rename(versions / f"{revision}_{slug}.py")
