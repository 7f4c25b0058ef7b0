"""The container set-up mirrors the README's production commands: the compose file parsed (nothing built or
pulled), its services, commands and settings checked against the README and the settings Herald knows."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from server.config import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def readme_production_commands() -> list[list[str]]:
    """The `herald …` lines of the README's production block, without their comments."""
    section = README[README.index("## Running in production") :]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block
    lines = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("herald ")]


def test_the_services_are_postgres_redis_a_migration_the_server_and_two_workers() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "server", "worker-1", "worker-2"}
    assert services["postgres"]["image"].startswith("postgres:") and services["redis"]["image"].startswith("redis:")


def test_the_commands_are_the_readmes() -> None:
    services = compose()["services"]
    commands = [services[name]["command"] for name in ("migrate", "server", "worker-1")]
    assert commands == readme_production_commands()
    assert services["worker-2"]["command"] == services["worker-1"]["command"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    assert cmd and yaml.safe_load(cmd.group(1)) == services["server"]["command"]
    assert re.findall(r"^RUN pip install (\S+)", dockerfile, re.MULTILINE) == ["."]  # runtime dependencies only


def test_every_herald_service_gets_the_same_settings_and_the_secret_key_is_required() -> None:
    services = compose()["services"]
    herald = {name: services[name]["environment"] for name in ("migrate", "server", "worker-1", "worker-2")}
    first = herald["migrate"]
    assert all(env == first for env in herald.values())
    known = {f"HERALD_{name.upper()}" for name in Settings.model_fields}
    assert set(first) <= known, set(first) - known
    assert first["HERALD_SECRET_KEYS"].startswith("${HERALD_SECRET_KEYS:?")  # compose refuses to start without it
    assert (
        first["HERALD_DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in first["HERALD_DATABASE_URL"]
    )
    assert first["HERALD_REDIS_URL"] == "redis://redis:6379/0"
    assert (first["HERALD_AUTO_MIGRATE"], first["HERALD_BOOTSTRAP_KEY"]) == ("false", "false")
    for name in ("server", "worker-1", "worker-2"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_the_readme_documents_the_production_steps() -> None:
    for needle in (
        "same `HERALD_SECRET_KEYS`",
        "herald keys create --name admin",
        "?options=-csearch_path%3Dherald",
        "Migrate first, then roll",
    ):
        assert needle in README, needle
