from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from tests.support.receiver import Receiver

# No test may ever read or write the real per-user data directory: a Settings() a test builds without a data_dir,
# and every `herald` subprocess, land in this scratch folder (tests of the default set XDG_DATA_HOME themselves).
_SCRATCH = tempfile.mkdtemp(prefix="herald-test-home-")
os.environ["HERALD_DATA_DIR"] = os.path.join(_SCRATCH, "data")
os.environ["XDG_DATA_HOME"] = os.path.join(_SCRATCH, "xdg")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    sink = Receiver()
    yield sink
    sink.stop()
