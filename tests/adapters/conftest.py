from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.transport import OutboundHttpClient
from tests.adapters.support import Receiver

LOOPBACK = ["127.0.0.0/8"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The adapters' own receiver (TLS, delays, dripping bodies); overrides the suite-wide one here."""
    sink = Receiver()
    yield sink
    sink.stop()


@pytest.fixture
def client() -> Iterator[OutboundHttpClient]:
    outbound = OutboundHttpClient(allowed_networks=LOOPBACK)
    yield outbound
    outbound.close()
