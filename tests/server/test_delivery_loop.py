"""The delivery loop builds one ChannelIO on its first use in a process, runs every send on its one
event loop thread, and closes the ChannelIO there."""

from __future__ import annotations

import asyncio
import threading

import pytest

from adapters import ChannelIO, HttpResponse
from server.delivery.loop import DeliveryLoop


class CountingHttp:
    def __init__(self) -> None:
        self.closed_on: list[threading.Thread] = []
        self.sent_on: set[threading.Thread] = set()

    async def send(
        self, method: str, url: str, *, headers: dict[str, str], content: bytes, allow_redirects: bool = False
    ) -> HttpResponse:
        self.sent_on.add(threading.current_thread())
        return HttpResponse(204)

    async def aclose(self) -> None:
        self.closed_on.append(threading.current_thread())


def test_one_channel_io_on_one_loop_thread_closed_there() -> None:
    built: list[CountingHttp] = []

    def make_io() -> ChannelIO:
        built.append(CountingHttp())
        return ChannelIO(http=built[-1])

    loop = DeliveryLoop(make_io)
    answers = [loop.run(lambda io: io.http.send("POST", "http://x", headers={}, content=b"")) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [204, 204, 204]
    [http] = built
    [thread] = http.sent_on
    assert thread.name == "herald-delivery" and thread is not threading.current_thread()
    loop.close()
    loop.close()
    assert http.closed_on == [thread] and not thread.is_alive()
    with pytest.raises(RuntimeError, match="This DeliveryLoop is closed."):
        loop.run(lambda io: asyncio.sleep(0))


def test_arun_awaits_a_send_from_another_event_loop_without_blocking_it() -> None:
    loop = DeliveryLoop(lambda: ChannelIO(http=CountingHttp()))

    async def door() -> list[str]:
        events: list[str] = []

        async def other() -> None:
            events.append("door loop ran")

        async def slow(io: ChannelIO) -> str:
            await asyncio.sleep(0.1)
            return "sent"

        task = asyncio.create_task(other())
        events.append(await loop.arun(slow))
        await task
        return events

    try:
        assert asyncio.run(door()) == ["door loop ran", "sent"]
    finally:
        loop.close()
