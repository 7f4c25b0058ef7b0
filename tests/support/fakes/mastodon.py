"""A faithful fake of a Mastodon instance's ``POST /api/v1/statuses``.

Bearer token checked (401 ``{"error": "The access token is invalid"}``), the instance's character
limit applied with every URL counting 23 (422 ``Validation failed: …``), ``Idempotency-Key``
replayed (the same status, not a new one), ``X-RateLimit-Limit/Remaining/Reset`` (ISO 8601 with
microseconds) on every answer and 429 ``Too many requests`` at the limit. Script names:
``ratelimit``, ``stall``, ``revoked``, ``gone`` (410: the account is gone). Media v2: an upload
over 1 KiB answers 202 and is processing (206) until polled; a status naming unprocessed media is
refused (422).
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.fakes.provider import FakeProvider, Request, Response

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
        self.media: dict[str, dict[str, Any]] = {}  # id -> {type, description, data, polls_left}
        self.processing_polls = 1  # an upload over 1 KiB answers 202, then 206 this many times, then 200

    def handle(self, request: Request) -> Response:
        if request.path == "/api/v2/media" and request.method == "POST":
            return self._upload(request)
        if request.path.startswith("/api/v1/media/") and request.method == "GET":
            return self._media(request.path.rsplit("/", 1)[1], request)
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
        media_ids = [str(m) for m in body.get("media_ids") or []]
        with self.lock:
            unknown = [m for m in media_ids if m not in self.media]
            pending = [m for m in media_ids if m in self.media and self.media[m]["polls_left"] >= 0]
        if len(media_ids) > 4 or unknown:
            return self._answer(422, {"error": "Validation failed: Media attachments are invalid"})
        if pending:
            return self._answer(
                422, {"error": "Cannot attach files that have not finished processing. Try again in a moment!"}
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
            "media_attachments": [{"id": m, "type": self.media[m]["type"]} for m in media_ids],
        }
        with self.lock:
            self.statuses.append(status)
            if key:
                self.by_key[(request.bearer or "", key)] = status
        return self._answer(200, status, stall=behaviour == "stall")

    def _upload(self, request: Request) -> Response:
        if request.bearer != self.token:
            return self._answer(401, {"error": "The access token is invalid"})
        fields = _form(request)
        if fields is None or "file" not in fields:
            return self._answer(422, {"error": "Validation failed: File can't be blank"})
        content_type, data = fields["file"]
        if not content_type.startswith(("image/", "video/", "audio/")):
            return self._answer(422, {"error": "Validation failed: File content type is invalid"})
        media_id = str(next(self._ids))
        large = len(data) > 1024
        entry = {
            "type": content_type.split("/")[0],
            "description": fields.get("description", ("", b""))[1].decode(),
            "data": data,
            "polls_left": self.processing_polls if large else -1,
        }
        with self.lock:
            self.media[media_id] = entry
        return self._answer(202 if large else 200, self._entity(media_id))

    def _media(self, media_id: str, request: Request) -> Response:
        if request.bearer != self.token:
            return self._answer(401, {"error": "The access token is invalid"})
        with self.lock:
            entry = self.media.get(media_id)
            if entry is None:
                return self._answer(404, {"error": "Record not found"})
            entry["polls_left"] -= 1
            ready = entry["polls_left"] < 0
        return self._answer(200 if ready else 206, self._entity(media_id))

    def _entity(self, media_id: str) -> dict[str, Any]:
        entry = self.media[media_id]
        ready = entry["polls_left"] < 0
        url = f"https://fake.social/media/{media_id}" if ready else None
        return {"id": media_id, "type": entry["type"], "url": url, "description": entry["description"]}

    def _answer(self, status: int, body: dict[str, Any], remaining: int = 299, stall: bool = False) -> Response:
        headers = {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": self.reset_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        return Response(status, body, headers, stall=stall)


def _form(request: Request) -> dict[str, tuple[str, bytes]] | None:
    """multipart/form-data fields: name -> (content type, bytes)."""
    match = re.search(r"boundary=([^;]+)", request.headers.get("content-type", ""))
    if not request.headers.get("content-type", "").startswith("multipart/form-data") or match is None:
        return None
    fields = {}
    for chunk in request.body.split(b"--" + match.group(1).encode())[1:-1]:
        head, _, data = chunk[2:-2].partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        name = re.search(r'name="([^"]*)"', lines[0])
        kind = next((line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("content-type")), "")
        if name:
            fields[name.group(1)] = (kind, data)
    return fields
