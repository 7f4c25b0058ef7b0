"""A faithful WhatsApp Cloud API fake: ``POST /v25.0/{phoneNumberId}/messages`` with ``Authorization: Bearer``.

As Graph does: a wrong token is 401 with code 190 (``OAuthException``), an unknown phone number id 400 code 100;
the body is validated (``messaging_product: whatsapp``, ``to``, a known ``type`` with its object, text up to
4,096 characters, captions 1,024, templates that exist with the right number of body parameters: 132001 /
132000); success is ``{"messaging_product", "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid…"}]}``.
A number not on WhatsApp (``not_on_whatsapp``) is refused at once with 131026. Free text to a number whose
24-hour window is closed (not in ``window_open``) is accepted, then fails asynchronously: the ``failed`` status
(131047) is what ``send_status`` posts later, as Meta does.

Status webhooks: ``send_status(url, wamid, status)`` posts the status object Meta posts, signed
``X-Hub-Signature-256: sha256=HMAC(app_secret, raw body)``, with the message's ``biz_opaque_callback_data``.

Script: ``Act("code", extra={"code": 130429, "status": 429})`` answers that Graph error (throughput 130429,
pair rate 131056, account 80007…); ``Act("hang", s)`` accepts the message and answers after ``s``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from aiohttp import web

from tests.support.fakes.base import FakeServer, json_response

PHONE_NUMBER_ID = "106540352242922"
ACCESS_TOKEN = "EAAGfakeWhatsAppSystemUserToken0123456789"
APP_SECRET = "fake-app-secret-7c1e"
VERIFY_TOKEN = "verify-me-please"
RECIPIENT = "+16505551234"
TITLES = {
    190: "Invalid OAuth access token - Cannot parse access token",
    100: "Invalid parameter",
    130429: "Rate limit hit",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    80007: "Rate limit issues",
    131026: "Message undeliverable",
    131047: "Re-engagement message",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template does not exist",
}


@dataclass
class Accepted:
    wamid: str
    body: dict[str, Any]


def graph_error(status: int, code: int, details: str = "") -> web.Response:
    error: dict[str, Any] = {
        "message": f"(#{code}) {TITLES.get(code, 'Error')}",
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "A" + secrets.token_hex(8),
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return json_response(status, {"error": error})


def signature(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WhatsAppFake(FakeServer):
    def __init__(self) -> None:
        self.token = ACCESS_TOKEN
        self.phone_number_id = PHONE_NUMBER_ID
        self.templates: dict[tuple[str, str], int] = {("daily_note", "en_US"): 2, ("hello_world", "en_US"): 0}
        self.window_open: set[str] = set()
        self.not_on_whatsapp: set[str] = set()
        self.accepted: list[Accepted] = []
        super().__init__()

    @property
    def api(self) -> str:
        return self.url + "/v25.0"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v25.0/{phone}/messages", self.messages)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        seen = await self.seen(request)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return graph_error(401, 190)
        if request.match_info["phone"] != self.phone_number_id:
            return graph_error(
                400, 100, f"Unsupported post request. Object with ID '{request.match_info['phone']}' does not exist"
            )
        act = self.next_act()
        if act is not None and act.kind == "code":
            return graph_error(act.extra.get("status", 400), act.extra["code"], act.extra.get("details", ""))
        try:
            body = seen.json()
        except ValueError:
            return graph_error(400, 100, "The request body is not JSON")
        problem = self._invalid(body)
        if problem is not None:
            return problem
        to = str(body["to"])
        wamid = "wamid." + base64.b64encode(secrets.token_bytes(24)).decode()
        self.accepted.append(Accepted(wamid, body))
        if act is not None and act.kind == "hang":
            await self.hang(act.seconds)
        return json_response(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                "messages": [{"id": wamid}],
            },
        )

    def _invalid(self, body: Any) -> web.Response | None:
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return graph_error(400, 100, "messaging_product must be whatsapp")
        if not body.get("to"):
            return graph_error(400, 131008, "to is required")
        kind = body.get("type", "text")
        if kind not in ("text", "template", "image", "document") or not isinstance(body.get(kind), dict):
            return graph_error(400, 131051, f"Unsupported message type {kind}")
        if str(body["to"]) in self.not_on_whatsapp:
            return graph_error(400, 131026, "The recipient is not a WhatsApp user")
        part = body[kind]
        if kind == "text" and not 0 < len(part.get("body") or "") <= 4096:
            return graph_error(400, 100, "text.body must be 1 to 4096 characters")
        if kind in ("image", "document") and (not part.get("link") or len(part.get("caption") or "") > 1024):
            return graph_error(400, 100, f"{kind}.link is required and the caption at most 1024 characters")
        if kind == "template":
            key = (part.get("name"), (part.get("language") or {}).get("code"))
            if key not in self.templates:
                return graph_error(404, 132001, f"template name ({key[0]}) does not exist in {key[1]}")
            given = sum(len(c.get("parameters") or []) for c in part.get("components") or [] if c.get("type") == "body")
            if given != self.templates[key]:
                return graph_error(400, 132000, f"expected {self.templates[key]} body parameters, got {given}")
        return None

    def window_closed_for(self, accepted: Accepted) -> bool:
        return accepted.body.get("type") != "template" and str(accepted.body["to"]) not in self.window_open

    def status_payload(self, accepted: Accepted, status: str, errors: list[dict[str, Any]] | None = None) -> dict:
        state: dict[str, Any] = {
            "id": accepted.wamid,
            "status": status,
            "timestamp": str(int(time.time())),
            "recipient_id": str(accepted.body["to"]).lstrip("+"),
        }
        if accepted.body.get("biz_opaque_callback_data"):
            state["biz_opaque_callback_data"] = accepted.body["biz_opaque_callback_data"]
        if errors:
            state["errors"] = errors
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
                                "statuses": [state],
                            },
                        }
                    ],
                }
            ],
        }

    def signed_status(
        self, accepted: Accepted, status: str, *, secret: str = APP_SECRET, errors: list | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The raw body and headers of the status webhook Meta posts (a failed free text outside the window: 131047)."""
        if status == "failed" and errors is None and self.window_closed_for(accepted):
            errors = [
                {
                    "code": 131047,
                    "title": "Re-engagement message",
                    "message": "Re-engagement message",
                    "error_data": {"details": "Message failed to send because more than 24 hours have passed"},
                }
            ]
        raw = json.dumps(self.status_payload(accepted, status, errors)).encode()
        return raw, {"Content-Type": "application/json", "X-Hub-Signature-256": signature(raw, secret)}

    def send_status(self, url: str, accepted: Accepted, status: str, **options: Any) -> httpx.Response:
        """Post one status webhook to a live ``url`` as Meta does."""
        raw, headers = self.signed_status(accepted, status, **options)
        return httpx.post(url, content=raw, headers=headers, timeout=10)
