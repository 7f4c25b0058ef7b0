"""A faithful Telegram Bot API fake: ``POST /bot{token}/sendMessage | sendPhoto | sendDocument`` (JSON).

As the Bot API does: the token in the path is the auth (wrong: 401 ``Unauthorized``); method names are
case-insensitive (unknown: 404 ``Not Found``); every answer is ``{"ok": true, "result": Message}`` or
``{"ok": false, "error_code", "description", "parameters"?}``; text is 1-4,096 characters after entity
parsing (HTML tags are not counted), a caption at most 1,024; an unknown chat is 400 ``Bad Request: chat not
found``, a user who blocked the bot 403 ``Forbidden: bot was blocked by the user``, a group upgraded to a
supergroup 400 with ``parameters.migrate_to_chat_id``; message ids count per chat.

Script: ``Act("rate_limit", 3)`` answers 429 ``Too Many Requests: retry after 3`` with
``parameters.retry_after: 3``; ``Act("hang", s)`` sends the message and answers after ``s``.
"""

from __future__ import annotations

import html
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.support.fakes.base import FakeServer, json_response

BOT_TOKEN = "123456789:AAFakeTelegramBotToken_abcdefghijklmn"
CHANNEL_CHAT = -1001234567890
USER_CHAT = 555000111
_TAG = re.compile(r"<[^>]*>")
_METHODS = {"sendmessage": "text", "sendphoto": "photo", "senddocument": "document"}


@dataclass
class Sent:
    chat_id: int | str
    message_id: int
    method: str
    body: dict[str, Any]


def _failure(code: int, description: str, **parameters: Any) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return json_response(code, body)


def visible_length(text: str, parse_mode: str | None) -> int:
    if parse_mode == "HTML":
        return len(html.unescape(_TAG.sub("", text)))
    if parse_mode == "MarkdownV2":
        return len(re.sub(r"\\(.)", r"\1", text.replace("*", "")))
    return len(text)


class TelegramFake(FakeServer):
    def __init__(self) -> None:
        self.token = BOT_TOKEN
        self.chats: set[int | str] = {CHANNEL_CHAT, USER_CHAT, "@heraldnews"}
        self.blocked: set[int | str] = set()
        self.migrated: dict[int | str, int] = {}
        self.sent: list[Sent] = []
        self._next_id: dict[int | str, int] = defaultdict(int)
        super().__init__()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/bot{token}/{method}", self.call)

    async def call(self, request: web.Request) -> web.StreamResponse:
        seen = await self.seen(request)
        if request.match_info["token"] != self.token:
            return _failure(401, "Unauthorized")
        method = request.match_info["method"].lower()
        if method not in _METHODS:
            return _failure(404, "Not Found")
        act = self.next_act()
        if act is not None and act.kind == "rate_limit":
            wait = int(act.seconds)
            return _failure(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
        try:
            body = seen.json()
        except ValueError:
            return _failure(400, "Bad Request: invalid JSON")
        chat = body.get("chat_id")
        if chat in (None, ""):
            return _failure(400, "Bad Request: chat_id is empty")
        if chat in self.migrated:
            return _failure(
                400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=self.migrated[chat]
            )
        if chat in self.blocked:
            return _failure(403, "Forbidden: bot was blocked by the user")
        if chat not in self.chats:
            return _failure(400, "Bad Request: chat not found")
        field = _METHODS[method]
        parse_mode = body.get("parse_mode")
        if field == "text":
            text = body.get("text") or ""
            if not text.strip():
                return _failure(400, "Bad Request: message text is empty")
            if visible_length(text, parse_mode) > 4096:
                return _failure(400, "Bad Request: message is too long")
        else:
            if not body.get(field):
                return _failure(400, f"Bad Request: there is no {field} in the request")
            if visible_length(body.get("caption") or "", parse_mode) > 1024:
                return _failure(400, "Bad Request: message caption is too long")
        if parse_mode == "HTML" and _TAG.sub("", body.get(field if field == "text" else "caption") or "").count("<"):
            return _failure(400, "Bad Request: can't parse entities: unsupported start tag")
        self._next_id[chat] += 1
        sent = Sent(chat, self._next_id[chat], method, body)
        self.sent.append(sent)
        if act is not None and act.kind == "hang":
            await self.hang(act.seconds)
        return json_response(200, {"ok": True, "result": self._message(sent)})

    def _message(self, sent: Sent) -> dict[str, Any]:
        numeric = sent.chat_id if isinstance(sent.chat_id, int) else CHANNEL_CHAT
        chat = {"id": numeric, "type": "private" if numeric > 0 else "channel"}
        result: dict[str, Any] = {
            "message_id": sent.message_id,
            "sender_chat" if numeric < 0 else "from": {"id": int(self.token.split(":")[0]), "is_bot": True},
            "chat": chat,
            "date": int(time.time()),
        }
        if sent.method == "sendmessage":
            result["text"] = sent.body["text"]
        return result
