"""The README's first-delivery walkthrough, run exactly as written: every ```bash walkthrough block in one bash
session, then the ```python walkthrough block, against `herald serve --dev` (loopback opened by the switch alone,
no HERALD_ALLOWED_NETWORKS) and a real local receiver. The deliveries must verify with the secrets it printed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from tests.support.live import ROOT, herald_env, live_herald
from tests.support.receiver import Receiver

pytestmark = pytest.mark.slow

BLOCK = re.compile(r"^```(bash|python) walkthrough\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def walkthrough() -> dict[str, list[str]]:
    blocks: dict[str, list[str]] = {"bash": [], "python": []}
    for language, text in BLOCK.findall((ROOT / "README.md").read_text()):
        blocks[language].append(text)
    return blocks


def test_the_readme_has_the_walkthrough_blocks() -> None:
    blocks = walkthrough()
    assert (len(blocks["bash"]), len(blocks["python"])) == (4, 1)
    bash = "\n".join(blocks["bash"])
    for step in ("createDistributionTarget", "dryRun: true", "awaitDelivery: true", "distributionPlan(id: $id)"):
        assert step in bash, step
    assert '"dryRun": True' in blocks["python"][0] and '"awaitDelivery": True' in blocks["python"][0]


@pytest.mark.skipif(shutil.which("jq") is None or shutil.which("curl") is None, reason="the walkthrough uses curl, jq")
def test_the_walkthrough_runs_verbatim_to_signed_receipts(tmp_path: Path, receiver: Receiver) -> None:
    blocks = walkthrough()
    env = herald_env(tmp_path / "data", allowed_networks="")  # only --dev opens loopback
    with live_herald(env, "--dev") as live:
        run_env = {**env, "HERALD": live.url, "KEY": live.key, "RECEIVER_URL": receiver.url + "/hook"}
        script = "set -euo pipefail\n" + "\n".join(blocks["bash"])
        shell = subprocess.run(
            ["bash", "-c", script], env=run_env, cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert shell.returncode == 0, shell.stderr + shell.stdout
        program = tmp_path / "first_delivery.py"
        program.write_text(blocks["python"][0])
        agent = subprocess.run(
            [sys.executable, str(program)], env=run_env, cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert agent.returncode == 0, agent.stderr + agent.stdout
    assert "OperationError" not in shell.stdout and '"code"' not in shell.stdout, shell.stdout
    assert re.search(r"^plan pln_\w+ SUCCEEDED$", shell.stdout, re.MULTILINE), shell.stdout
    assert '"verdict": "deliver"' in shell.stdout and '"jobsToCreate": 1' in shell.stdout
    assert re.search(r"^\S+\s+succeeded\s+1/1\s+0\s", shell.stdout, re.MULTILINE), shell.stdout  # herald plans show
    assert "dry run: deliver" in agent.stdout
    assert re.search(r"^plan pln_\w+ succeeded receipt rcpt_\w+$", agent.stdout, re.MULTILINE), agent.stdout
    secrets = re.findall(r"signing secret (whsec_\S+)", shell.stdout + agent.stdout)
    deliveries = receiver.at("/hook")
    assert len(secrets) == 2 and len(deliveries) == 2  # the dry run sent nothing
    titles = [
        Webhook(secret).verify(d.body, d.headers)["data"]["id"] for secret, d in zip(secrets, deliveries, strict=True)
    ]
    assert titles == ["hello", "hello-mcp"]
