"""The `herald` command as people and scripts use it: one data directory wherever it starts, help that says
every default, the operator commands (through the same pipeline as the doors) and exit codes that say what happened."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from server import __version__
from server.cli import NOT_ALLOWED, NOT_FOUND, OK, USAGE, build_parser, main
from tests.support import factories
from tests.support.doors import doors
from tests.support.live import ROOT, herald_env
from tests.support.waiting import until_async


def herald(env: dict[str, str], *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += _subparsers(child)
    return found


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"herald {__version__}\n"


def test_every_option_says_its_default_and_worker_names_redis() -> None:
    missing = []
    for parser in _subparsers(build_parser()):
        formatter = parser._get_formatter()
        for action in parser._actions:
            shown = formatter._expand_help(action) if action.option_strings else "default"  # what --help prints
            if action.dest not in ("help", "version") and "default" not in shown:
                missing.append(f"{parser.prog} {action.option_strings[0]}")
    assert missing == []
    assert "Exit codes: 0 done, 1 unexpected failure, 2 bad usage or input, 3 not found" in build_parser().format_help()
    worker = next(p for p in _subparsers(build_parser()) if p.prog == "herald worker")
    assert "HERALD_REDIS_URL" in worker.format_help()


@pytest.mark.slow  # three `herald` processes
def test_the_per_user_data_dir_is_the_same_wherever_a_command_starts(tmp_path: Path) -> None:
    """Before: each command used `.herald` under its own folder, so a key created in one was unknown in another."""
    env = {k: v for k, v in herald_env(tmp_path / "unused").items() if k != "HERALD_DATA_DIR"}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    created = herald(env, "keys", "create", "--name", "me", cwd=one)
    assert created.returncode == OK, created.stderr
    expected = tmp_path / "xdg" / "herald"
    assert f"data directory {expected} (from the per-user default)" in created.stderr
    listed = herald(env, "keys", "list", cwd=two)
    assert listed.returncode == OK, listed.stderr
    assert f"data directory {expected} (from the per-user default)" in listed.stderr
    assert listed.stdout.splitlines()[0].split() == ["ID", "WORKSPACE", "PREFIX", "SCOPES", "STATE", "NAME"]
    assert len(listed.stdout.splitlines()) == 2 and listed.stdout.rstrip().endswith("active  me")
    assert not (one / ".herald").exists() and not (two / ".herald").exists()
    bad = herald({**env, "HERALD_API_KEY": "hk_" + "x" * 40}, "mcp", "--no-worker", cwd=two)
    assert bad.returncode == NOT_ALLOWED
    assert f"valid key of the database in use (data directory {expected}" in bad.stderr


def test_keys_list_in_an_empty_directory_says_so_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    monkeypatch.setenv("HERALD_DATA_DIR", str(empty))
    assert main(["keys", "list"]) == NOT_FOUND
    err = capsys.readouterr().err
    assert f"No Herald database in {empty} (from HERALD_DATA_DIR)" in err
    assert not empty.exists()


def test_mcp_in_an_empty_directory_names_it_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: it created a fresh database and key file there, then blamed the API key."""
    empty = tmp_path / "elsewhere"
    monkeypatch.setenv("HERALD_DATA_DIR", str(empty))
    monkeypatch.setenv("HERALD_API_KEY", "hk_whatever")
    assert main(["mcp", "--no-worker"]) == NOT_FOUND
    assert f"no Herald database in {empty} (from HERALD_DATA_DIR)" in capsys.readouterr().err
    assert not empty.exists()


def test_dev_mode_refused_off_loopback(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HERALD_HOST", "0.0.0.0")
    assert main(["serve", "--dev"]) == USAGE
    assert "Development mode opens loopback to outbound delivery and is refused on 0.0.0.0" in capsys.readouterr().err


async def cli(*args: str) -> int:
    """`herald ARGS` in process, on a thread of its own (the CLI runs its own event loop)."""
    code: int = await anyio.to_thread.run_sync(main, list(args))
    return code


@pytest.mark.anyio
async def test_operator_commands_call_the_operations_of_the_doors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HERALD_DATA_DIR", str(tmp_path))
    async with doors(tmp_path) as d:
        once = {"maxAttempts": 1, "baseDelaySeconds": 0.01, "maxDelaySeconds": 0.02}
        target = await factories.stub_target(d, "always-dead", {"failTimes": 1000}, labels=["news"], retryPolicy=once)
        plan = (await factories.plan(d, target))["plan"]["id"]
        await until_async(
            lambda: d.ok("get_distribution_plan", id=plan),
            done=lambda body: body["plan"]["status"] == "failed",
            timeout=20,
            message="the plan to the dead stub failed",
        )

        assert await cli("targets", "list", "--json") == OK
        listed = json.loads(capsys.readouterr().out)
        assert listed == await d.ok("list_distribution_targets")

        assert await cli("targets", "list", "--label", "news") == OK
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].split() == ["ID", "NAME", "CHANNEL", "LABELS", "STATE", "CIRCUIT"]
        assert lines[1].split()[:4] == [target, "always-dead", "stub", "news"]

        assert await cli("plans", "list") == OK
        assert capsys.readouterr().out.splitlines()[1].split()[:4] == [plan, "failed", "0/1", "1"]
        assert await cli("plans", "show", plan, "--json") == OK
        assert json.loads(capsys.readouterr().out) == await d.ok("get_distribution_plan", id=plan)
        assert await cli("plans", "show", "pln_missing") == NOT_FOUND
        assert capsys.readouterr().err.startswith("herald: data directory")

        assert await cli("dead-letters", "list", "--json") == OK
        [dead] = json.loads(capsys.readouterr().out)["items"]
        assert (dead["planId"], dead["targetId"]) == (plan, target)
        assert await cli("dead-letters", "list", "--limit", "0") == USAGE
        assert "VALIDATION_ERROR (field limit)" in capsys.readouterr().err
        assert await cli("dead-letters", "replay") == USAGE
        before = d.counts()
        assert await cli("dead-letters", "replay", "--plan", plan, "--dry-run") == OK
        assert capsys.readouterr().out.splitlines() == ["Would replay 1 job(s) of 1 plan(s).", dead["jobId"]]
        assert d.counts() == before
        assert await cli("dead-letters", "replay", "--plan", plan) == OK
        assert capsys.readouterr().out.splitlines() == ["Replayed 1 job(s) of 1 plan(s).", dead["jobId"]]
        audit = await d.ok("list_audit_events", operation="replay_dead_letters")
        assert [(a["principal"], a["outcome"]) for a in audit["items"]] == [("herald CLI (cli)", "ok")]


def test_dev_mode_opens_loopback_only_and_says_so_loudly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: a local receiver needed a restart with HERALD_ALLOWED_NETWORKS; now --dev (or HERALD_DEV) does it."""
    from server.cli import _say_storage
    from server.config import DEV_BANNER, Settings

    assert Settings(allowed_networks="").allowed_network_list == []
    dev = Settings(dev=True, allowed_networks="10.1.0.0/16")
    assert dev.allowed_network_list == ["10.1.0.0/16", "127.0.0.0/8", "::1/128"]
    assert dev.dev_refusal() is None and Settings(dev=True, host="::1").dev_refusal() is None
    assert Settings(dev=True, host="192.168.1.5").dev_refusal() is not None
    monkeypatch.setenv("HERALD_DEV", "true")
    _say_storage(Settings())
    assert capsys.readouterr().err.splitlines()[-1] == f"herald: {DEV_BANNER}"
    assert DEV_BANNER.startswith("DEVELOPMENT MODE") and "Never use it in production" in DEV_BANNER


def test_an_unknown_workspace_is_not_found_and_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sqlmodel import func, select

    from server.db import session_scope
    from server.models import Workspace

    rt = factories.runtime(tmp_path)
    factories.principal(rt)  # the default workspace exists
    monkeypatch.setenv("HERALD_DATA_DIR", str(tmp_path))
    assert main(["targets", "list", "--workspace", "ws_typo"]) == NOT_FOUND
    assert "no workspace ws_typo in this database" in capsys.readouterr().err
    assert main(["targets", "list"]) == OK
    assert capsys.readouterr().err.endswith("No targets.\n")
    with session_scope(rt.engine) as session:
        assert session.exec(select(func.count()).select_from(Workspace)).one() == 1
    rt.close()
