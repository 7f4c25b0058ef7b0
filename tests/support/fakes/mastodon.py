"""A faithful fake of a Mastodon instance's ``POST /api/v1/statuses``.

Bearer token checked (401 ``{"error": "The access token is invalid"}``), the instance's character
limit applied with every URL counting 23 (422 ``Validation failed: …``), ``Idempotency-Key``
replayed (the same status, not a new one), ``X-RateLimit-Limit/Remaining/Reset`` (ISO 8601 with
microseconds) on every answer and 429 ``Too many requests`` at the limit. Script names:
``ratelimit``, ``stall``, ``revoked``, ``gone`` (410: the account is gone).
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.fakes.base import FakeProvider, Request, Response

URL = re.compile(r"https?://[^\s<>\"]+")


class FakeMastodon(FakeProvider):
    def __init__(self, token: str = "mastodon-token-good", max_characters: int = 500) -> None:
        super().__init__()
        self.token = token
        self.max_characters = max_characters
        self.statuses: list[dict[str, Any]] = []
        self.by_key: dict[tuple[str, str], dict[str, Any]] = {}
        self.reset_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=9)
        self._ids = itertools.count(113_000_000_000_000_001)

    def handle(self, request: Request) -> Response:
        if request.path != "/api/v1/statuses" or request.method != "POST":
            return self._answer(404, {"error": "Record not found"})
        behaviour = self.next_behaviour()
        if behaviour == "revoked":
            self.token = "revoked"
        if request.bearer != self.token:
            return self._answer(401, {"error": "The access token is invalid"})
        if behaviour == "ratelimit":
            return self._answer(429, {"error": "Too many requests"}, remaining=0)
        if behaviour == "gone":
            return self._answer(410, {"error": "This account has been suspended"})
        body = request.json()
        key = request.headers.get("idempotency-key")
        with self.lock:
            if key and (request.bearer, key) in self.by_key:
                return self._answer(200, self.by_key[(request.bearer, key)])
        text = str(body.get("status") or "")
        if not text.strip():
            return self._answer(422, {"error": "Validation failed: Text can't be blank"})
        if len(URL.sub("x" * 23, text)) > self.max_characters:
            return self._answer(
                422, {"error": f"Validation failed: Text character limit of {self.max_characters} exceeded"}
            )
        status_id = str(next(self._ids))
        status = {
            "id": status_id,
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "uri": f"https://fake.social/users/herald/statuses/{status_id}",
            "url": f"https://fake.social/@herald/{status_id}",
            "content": f"<p>{text}</p>",
            "visibility": body.get("visibility", "public"),
            "text": text,
        }
        with self.lock:
            self.statuses.append(status)
            if key:
                self.by_key[(request.bearer or "", key)] = status
        return self._answer(200, status, stall=behaviour == "stall")

    def _answer(self, status: int, body: dict[str, Any], remaining: int = 299, stall: bool = False) -> Response:
        headers = {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": self.reset_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        return Response(status, body, headers, stall=stall)
