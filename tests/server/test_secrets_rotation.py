"""Key rotation with real data: old keys keep decrypting until removed; rotate moves everything to the newest."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlmodel import select

from server.crypto import SecretBoxError
from server.db import session_scope
from server.models import Target
from server.runtime import build_runtime
from server.targets.repository import credentials_of
from tests.support import factories
from tests.support.live import ROOT, herald_env


def new_key() -> str:
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


@pytest.mark.slow  # runs `herald secrets rotate` as a process
def test_rotate_reencrypts_every_credential(tmp_path: Path) -> None:
    old, new = new_key(), new_key()
    rt = factories.runtime(tmp_path, secret_keys=old)
    for i in range(5):
        factories.call(
            rt,
            "create_distribution_target",
            name=f"p{i}",
            channel="http",
            config={"url": "http://127.0.0.1:9/x"},
            credentials={"bearerToken": f"tok-{i}"},
            idempotencyKey=f"k{i}",
        )
    rt.close()
    env = herald_env(tmp_path, secret_keys=f"{new},{old}")
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "secrets", "rotate"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "Re-encrypted 10 secret(s)" in out.stdout
    assert "[##############################] 10/10" in out.stderr
    only_new = build_runtime(factories.test_settings(tmp_path, secret_keys=new))
    only_old = build_runtime(factories.test_settings(tmp_path, secret_keys=old))
    with session_scope(only_new.engine) as session:
        targets = list(session.exec(select(Target).order_by(Target.name)).all())
    assert [credentials_of(t, only_new.box)["bearerToken"] for t in targets] == [f"tok-{i}" for i in range(5)]
    with pytest.raises(SecretBoxError, match="not in HERALD_SECRET_KEYS"):
        credentials_of(targets[0], only_old.box)
    only_new.close()
    only_old.close()
