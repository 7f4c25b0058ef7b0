"""A faithful fake of Slack's Web API (chat.postMessage, conversations.history) and incoming webhooks.

Errors are HTTP 200 ``{"ok": false, "error": …}`` as Slack answers them; a rate limit is HTTP 429
with ``Retry-After`` (integer seconds) and ``{"ok": false, "error": "ratelimited"}``. Script names:
``ratelimit``, ``stall`` (post stored, answer after the client gave up), ``revoked`` (token_revoked),
``lost`` (the request is lost: nothing stored, no answer before the client's timeout).
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from tests.support.fakes.provider import FakeProvider, Request, Response

MAX_TEXT = 40_000


class FakeSlack(FakeProvider):
    def __init__(self, token: str = "xoxb-1-good", channels: tuple[str, ...] = ("C0HERALD1",)) -> None:
        super().__init__()
        self.token = token
        self.revoked: set[str] = set()
        self.members: set[str] = set(channels)  # channels the bot was invited to
        self.channels: dict[str, list[dict[str, Any]]] = {c: [] for c in channels}
        self.retry_after = 7
        self.hook_path = "/services/T0001/B0001/hooksecret"
        self.hook_posts: list[dict[str, Any]] = []
        self.history_script: list[str] = []  # "ratelimit": conversations.history answers 429 (Tier 3 method)
        self._ts = itertools.count(1)

    @property
    def api(self) -> str:
        return self.url + "/api"

    def posted(self, channel: str = "C0HERALD1") -> list[dict[str, Any]]:
        with self.lock:
            return list(self.channels.get(channel, []))

    def handle(self, request: Request) -> Response:
        if request.path == self.hook_path:
            return self._hook(request)
        if request.path == "/api/chat.postMessage" and request.method == "POST":
            return self._post(request)
        if request.path == "/api/conversations.history":
            return self._history(request)
        return Response(404, {"ok": False, "error": "unknown_method"})

    def _auth(self, request: Request) -> Response | None:
        token = request.bearer
        if token is None:
            return Response(200, {"ok": False, "error": "not_authed"})
        if token in self.revoked:
            return Response(200, {"ok": False, "error": "token_revoked"})
        if token != self.token:
            return Response(200, {"ok": False, "error": "invalid_auth"})
        return None

    def _post(self, request: Request) -> Response:
        behaviour = self.next_behaviour()
        if behaviour == "ratelimit":
            return Response(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(self.retry_after)})
        if behaviour == "revoked":
            self.revoked.add(self.token)
        if behaviour == "lost":
            return Response(500, {"ok": False, "error": "fatal_error"}, stall=True)  # nothing stored, no answer
        refused = self._auth(request)
        if refused is not None:
            return refused
        if not request.headers.get("content-type", "").startswith("application/json"):
            return Response(200, {"ok": False, "error": "invalid_post_type"})
        body = request.json()
        channel, text = body.get("channel"), body.get("text")
        if channel not in self.channels:
            return Response(200, {"ok": False, "error": "channel_not_found"})
        if channel not in self.members:
            return Response(200, {"ok": False, "error": "not_in_channel"})
        if not text and not body.get("blocks"):
            return Response(200, {"ok": False, "error": "no_text"})
        if len(text or "") > MAX_TEXT:
            return Response(200, {"ok": False, "error": "msg_too_long"})
        if not _valid_blocks(body.get("blocks")):
            return Response(200, {"ok": False, "error": "invalid_blocks"})
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        message = {"type": "message", "text": text, "ts": ts, "bot_id": "B0HERALD"}
        if isinstance(body.get("metadata"), dict):
            message["metadata"] = body["metadata"]
        with self.lock:
            self.channels[channel].append(message)
        return Response(200, {"ok": True, "channel": channel, "ts": ts, "message": message}, stall=behaviour == "stall")

    def _history(self, request: Request) -> Response:
        with self.lock:
            behaviour = self.history_script.pop(0) if self.history_script else None
        if behaviour == "ratelimit":
            return Response(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(self.retry_after)})
        refused = self._auth(request)
        if refused is not None:
            return refused
        channel = request.query.get("channel")
        if channel not in self.channels:
            return Response(200, {"ok": False, "error": "channel_not_found"})
        limit = min(int(request.query.get("limit") or 100), 999)
        with_metadata = request.query.get("include_all_metadata") == "true"
        newest_first = list(reversed(self.channels[channel]))[:limit]
        messages = [m if with_metadata else {k: v for k, v in m.items() if k != "metadata"} for m in newest_first]
        return Response(200, {"ok": True, "messages": messages, "has_more": len(self.channels[channel]) > limit})

    def _hook(self, request: Request) -> Response:
        behaviour = self.next_behaviour()
        if behaviour == "ratelimit":
            return Response(429, {"ok": False, "count_second_ago": 5}, {"Retry-After": str(self.retry_after)})
        if behaviour == "revoked":
            return Response(404, "no_service")
        try:
            body = request.json()
        except ValueError:
            return Response(400, "invalid_payload")
        if not body.get("text"):
            return Response(400, "no_text")
        with self.lock:
            self.hook_posts.append(body)
        return Response(200, "ok", stall=behaviour == "stall")


def _valid_blocks(blocks: Any) -> bool:
    """Block Kit's limits as Slack enforces them: at most 50 blocks, a header's plain text at most 150
    characters, a section's text at most 3,000."""
    if blocks is None:
        return True
    if not isinstance(blocks, list) or len(blocks) > 50:
        return False
    limits = {"header": 150, "section": 3000}
    for block in blocks:
        text = (block.get("text") or {}).get("text") if isinstance(block, dict) else None
        if block.get("type") not in limits or not isinstance(text, str) or not 0 < len(text) <= limits[block["type"]]:
            return False
    return True
