"""A faithful Discord webhook-execute fake: ``POST /api/v10/webhooks/{id}/{token}`` (``?wait=true``).

As Discord does: the token in the path is the auth (a wrong one: 401 code 50027, an unknown webhook: 404
code 10015); the body is validated (2,000 characters of content, 10 embeds, embed title 256, description
4,096, 6,000 in all, not empty: 400 code 50035 / 50006); ``wait=true`` answers 200 with the message object
(snowflake ids), without it 204; every answer carries the ``X-RateLimit-*`` headers of the webhook's bucket.

Script (``fake.script``): ``Act("rate_limit", 1.5)`` answers 429 with ``retry_after: 1.5`` in the body,
``Retry-After: 2`` and ``X-RateLimit-Reset-After: 1.5`` (``extra={"global": True}``: the global limit);
``Act("hang", s)`` creates the message and answers after ``s``; ``Act("gone")`` answers 404 code 10003
(unknown channel: the webhook's thread was deleted); ``Act("error", extra={"status": 502})`` an outage.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.support.fakes.base import FakeServer, json_response

WEBHOOK_ID = "112233445566778899"
WEBHOOK_TOKEN = "tok_DiscordFake-abcdefghijklmnopqrstuvwxyz0123"
CHANNEL_ID = "998877665544332211"
_EPOCH_MS = 1420070400000


@dataclass
class Message:
    id: str
    body: dict[str, Any]
    thread_id: str | None = None


class DiscordFake(FakeServer):
    def __init__(self) -> None:
        self.webhooks = {WEBHOOK_ID: WEBHOOK_TOKEN}
        self.messages: list[Message] = []
        self._sequence = 0
        super().__init__()

    @property
    def api(self) -> str:
        return self.url + "/api/v10"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v10/webhooks/{id}/{token}", self.execute)

    def _snowflake(self) -> str:
        self._sequence += 1
        return str(((int(time.time() * 1000) - _EPOCH_MS) << 22) | self._sequence)

    def _headers(self, remaining: int = 4, reset_after: float = 1.0) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": "fake-webhook-bucket",
        }

    async def execute(self, request: web.Request) -> web.StreamResponse:
        seen = await self.seen(request)
        webhook_id, token = request.match_info["id"], request.match_info["token"]
        if webhook_id not in self.webhooks:
            return json_response(404, {"message": "Unknown Webhook", "code": 10015}, self._headers())
        if self.webhooks[webhook_id] != token:
            return json_response(401, {"message": "Invalid Webhook Token", "code": 50027}, self._headers())
        act = self.next_act()
        if act is not None and act.kind == "rate_limit":
            is_global = bool(act.extra.get("global"))
            headers = {
                **self._headers(0, act.seconds),
                "Retry-After": str(math.ceil(act.seconds)),
                "X-RateLimit-Scope": "global" if is_global else "user",
            }
            if is_global:
                headers["X-RateLimit-Global"] = "true"
            body = {"message": "You are being rate limited.", "retry_after": act.seconds, "global": is_global}
            return json_response(429, body, headers)
        if act is not None and act.kind == "gone":
            return json_response(404, {"message": "Unknown Channel", "code": 10003}, self._headers())
        if act is not None and act.kind == "error":
            return json_response(act.extra.get("status", 502), {"message": "502: Bad Gateway", "code": 0})
        try:
            payload = seen.json()
        except ValueError:
            return json_response(400, {"message": "The request body contains invalid JSON.", "code": 50109})
        problem = _invalid(payload)
        if problem is not None:
            return json_response(400, problem, self._headers())
        message = Message(self._snowflake(), payload, request.query.get("thread_id"))
        self.messages.append(message)
        if act is not None and act.kind == "hang":
            await self.hang(act.seconds)
        if request.query.get("wait", "false").lower() != "true":
            return web.Response(status=204, headers=self._headers())
        return json_response(200, self.message_object(message), self._headers())

    def message_object(self, message: Message) -> dict[str, Any]:
        return {
            "id": message.id,
            "type": 0,
            "content": message.body.get("content", ""),
            "channel_id": message.thread_id or CHANNEL_ID,
            "author": {"id": WEBHOOK_ID, "username": message.body.get("username", "Herald"), "bot": True},
            "embeds": message.body.get("embeds", []),
            "mentions": [],
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime()),
            "webhook_id": WEBHOOK_ID,
        }


def _form_error(field: str, message: str) -> dict[str, Any]:
    return {
        "message": "Invalid Form Body",
        "code": 50035,
        "errors": {field: {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": message}]}},
    }


def _invalid(payload: Any) -> dict[str, Any] | None:
    if not isinstance(payload, dict):
        return {"message": "Invalid Form Body", "code": 50035}
    content, embeds = payload.get("content") or "", payload.get("embeds") or []
    if not content and not embeds:
        return {"message": "Cannot send an empty message", "code": 50006}
    if len(content) > 2000:
        return _form_error("content", "Must be 2000 or fewer in length.")
    if len(embeds) > 10:
        return _form_error("embeds", "Must be 10 or fewer in length.")
    total = 0
    for embed in embeds:
        title, description = embed.get("title") or "", embed.get("description") or ""
        if len(title) > 256:
            return _form_error("embeds.0.title", "Must be 256 or fewer in length.")
        if len(description) > 4096:
            return _form_error("embeds.0.description", "Must be 4096 or fewer in length.")
        total += len(title) + len(description)
    if total > 6000:
        return _form_error("embeds", "Embed size exceeds maximum size of 6000")
    return None
