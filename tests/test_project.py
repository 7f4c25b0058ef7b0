"""The project's own files: what `make run` installs, the quick test loop, packaging metadata that warns of nothing."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAKEFILE = (ROOT / "Makefile").read_text()


def _recipe(target: str) -> tuple[str, list[str]]:
    """The prerequisites and the command lines of one Makefile rule."""
    match = re.search(rf"^{re.escape(target)}:(.*)\n((?:\t.*\n)*)", MAKEFILE, re.MULTILINE)
    assert match, f"no rule {target}"
    return match.group(1).strip(), [line.strip() for line in match.group(2).splitlines()]


def test_make_run_installs_the_runtime_dependencies_only() -> None:
    """Before: `make run` installed the test and benchmark extras too."""
    prerequisites, commands = _recipe("run")
    assert prerequisites == "$(RUN_STAMP)"
    _, install = _recipe("$(RUN_STAMP)")
    pip = [line for line in install if "pip install" in line and "--upgrade pip" not in line]
    assert pip == ["$(BIN)/python -m pip install --quiet -e ."]
    dev_prerequisites, dev = _recipe("$(STAMP)")
    assert dev_prerequisites == "$(RUN_STAMP)" and "$(BIN)/python -m pip install --quiet -e '.[dev]'" in dev


def test_a_fast_loop_leaves_out_the_fuzz_and_the_bench() -> None:
    _, commands = _recipe("test-fast")
    assert commands == ['$(BIN)/python -m pytest -q -m "not heavy" $(PYTEST_ARGS)']
    markers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]
    assert any(marker.startswith("heavy:") for marker in markers)
    for path, name in (
        ("tests/test_input_limits.py", "test_fuzz_graphql_over_http"),
        ("tests/test_input_limits.py", "test_fuzz_mcp_tools"),
    ):
        text = (ROOT / path).read_text()
        head = text[: text.index(f"def {name}")].rsplit("\n\n\n", 1)[-1]
        assert "@pytest.mark.heavy" in head, name
    assert "pytest.mark.heavy" in (ROOT / "tests/bench/test_smoke.py").read_text()
    assert "| `make test-fast` |" in (ROOT / "README.md").read_text()


def test_the_license_is_an_spdx_expression() -> None:
    """setuptools deprecates the `license = {text = …}` table and License classifiers (a warning per build step)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")]
    assert "platformdirs>=4.2" in project["dependencies"]
