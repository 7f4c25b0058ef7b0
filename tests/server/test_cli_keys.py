"""`herald keys create|list|revoke` as an operator runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from server.errors import Unauthorized
from server.keys.service import authenticate
from server.runtime import build_runtime
from tests.support import factories
from tests.support.live import ROOT, herald_env


def herald(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.mark.slow  # one `herald` process per command
def test_create_list_revoke(tmp_path: Path) -> None:
    env = herald_env(tmp_path)
    created = herald(
        env, "keys", "create", "--name", "bot", "--workspace", "ws_team", "--scopes", "read,deliver", "--read-only"
    )
    assert created.returncode == 0, created.stderr
    assert "workspace ws_team, scopes read,deliver, read-only" in created.stdout
    secret = created.stdout.strip().splitlines()[-1]
    rt = build_runtime(factories.test_settings(tmp_path))
    principal = authenticate(rt, f"Bearer {secret}")
    assert (principal.workspace_id, principal.scopes, principal.read_only) == ("ws_team", ("deliver", "read"), True)
    listed = herald(env, "keys", "list", "--workspace", "ws_team")
    assert principal.key_id in listed.stdout and secret not in listed.stdout and "active" in listed.stdout
    assert herald(env, "keys", "revoke", principal.key_id).returncode == 0
    with pytest.raises(Unauthorized):
        authenticate(rt, f"Bearer {secret}")
    assert "revoked" in herald(env, "keys", "list").stdout
    bad = herald(env, "keys", "create", "--name", "x", "--scopes", "read,root")
    assert bad.returncode == 2 and "Unknown scope" in bad.stderr
    rt.close()
