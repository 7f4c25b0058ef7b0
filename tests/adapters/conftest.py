from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.delivery.loop import DeliveryLoop
from tests.adapters.support import delivery_loop


@pytest.fixture
def client() -> Iterator[DeliveryLoop]:
    """The delivery loop with a real ChannelIO allowed to reach loopback (the suite's ``receiver``)."""
    loop = delivery_loop()
    yield loop
    loop.close()
