from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.receiver import Receiver


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    sink = Receiver()
    yield sink
    sink.stop()
