"""A local SMTP sink on 127.0.0.1 in its own process: `python -m bench.smtp_sink`.

aiosmtpd accepts every message and discards it, counting messages and recipients. It prints its port
on the first line of stdout, then answers one line of JSON per line read on stdin: ``stats`` gives
the counts, ``reset`` zeroes them first.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from server.delivery.loop import new_event_loop


class Counting:
    def __init__(self) -> None:
        self.messages = 0
        self.recipients = 0
        self.first = 0.0
        self.last = 0.0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        now = time.time()
        self.first = self.first or now
        self.last = now
        self.messages += 1
        self.recipients += len(envelope.rcpt_tos)
        return "250 OK"

    def stats(self) -> dict[str, Any]:
        return {"messages": self.messages, "recipients": self.recipients, "first": self.first, "last": self.last}


def _control(handler: Counting) -> None:
    for line in sys.stdin:
        if line.strip() == "reset":
            handler.__init__()  # type: ignore[misc]
        print(json.dumps(handler.stats()), flush=True)


async def _serve() -> None:
    handler = Counting()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="bench-sink", ident="bench-sink", data_size_limit=None), "127.0.0.1", 0
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    threading.Thread(target=_control, args=(handler,), daemon=True).start()
    await server.serve_forever()


def main() -> None:
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(_serve())


if __name__ == "__main__":
    main()
