"""A faithful fake of a Bluesky PDS: sessions, ``createRecord`` and ``getRecord`` for posts.

``createSession`` checks the app password (401 ``AuthenticationRequired``) and counts logins;
an expired access JWT answers 400 ``ExpiredToken``, an unknown one 400 ``InvalidToken``;
``refreshSession`` takes the refresh JWT. Posts are validated as the lexicon says: text at most
300 graphemes and 3,000 bytes, ``createdAt`` present, the record key a TID, facets inside the
text's UTF-8 bytes (400 ``InvalidRequest``). A record key that exists answers 500
``InternalServerError`` (what today's PDS does). ``RateLimit-*`` headers (epoch reset) on every
answer. Script names: ``ratelimit``, ``stall``, ``expire`` (the current access token expires).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import time
from typing import Any

import regex

from tests.support.fakes.provider import FakeProvider, Request, Response

TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
DID = "did:plc:heraldfake0000000000001"


def _jwt(claims: dict[str, Any]) -> str:
    part = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJIUzI1NiJ9.{part}.c2ln"


class FakeBluesky(FakeProvider):
    def __init__(self, identifier: str = "herald.example.com", app_password: str = "abcd-efgh-ijkl-mnop") -> None:
        super().__init__()
        self.identifier, self.app_password = identifier, app_password
        self.access_ttl = 7200
        self.logins = 0
        self.refreshes = 0
        self.access: dict[str, float] = {}  # access JWT -> expiry
        self.refresh: set[str] = set()
        self.records: dict[str, dict[str, Any]] = {}  # rkey -> {uri, cid, value}
        self.reset_at = int(time.time()) + 11
        self._n = itertools.count(1)

    def handle(self, request: Request) -> Response:
        method = request.path.removeprefix("/xrpc/")
        if method == "com.atproto.server.createSession":
            return self._create_session(request)
        if method == "com.atproto.server.refreshSession":
            return self._refresh_session(request)
        if method == "com.atproto.repo.createRecord":
            return self._create_record(request)
        if method == "com.atproto.repo.getRecord":
            return self._get_record(request)
        return self._answer(501, {"error": "MethodNotImplemented", "message": "Method Not Implemented"})

    def _session(self) -> dict[str, Any]:
        n = next(self._n)
        access = _jwt({"scope": "com.atproto.appPass", "sub": DID, "exp": int(time.time()) + self.access_ttl, "n": n})
        refresh = _jwt({"scope": "com.atproto.refresh", "sub": DID, "n": n})
        with self.lock:
            self.access[access] = time.time() + self.access_ttl
            self.refresh.add(refresh)
        return {"accessJwt": access, "refreshJwt": refresh, "handle": self.identifier, "did": DID, "active": True}

    def _create_session(self, request: Request) -> Response:
        body = request.json()
        with self.lock:
            self.logins += 1
        if body.get("identifier") != self.identifier or body.get("password") != self.app_password:
            return self._answer(401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"})
        return self._answer(200, self._session())

    def _refresh_session(self, request: Request) -> Response:
        with self.lock:
            known = request.bearer in self.refresh
            if known:
                self.refresh.discard(request.bearer or "")
                self.refreshes += 1
        if not known:
            return self._answer(400, {"error": "ExpiredToken", "message": "Token has been revoked"})
        return self._answer(200, self._session())

    def _authorized(self, request: Request) -> Response | None:
        token = request.bearer
        if token is None:
            return self._answer(401, {"error": "AuthMissing", "message": "Authentication Required"})
        expiry = self.access.get(token)
        if expiry is None:
            return self._answer(400, {"error": "InvalidToken", "message": "Token could not be verified"})
        if expiry <= time.time():
            return self._answer(400, {"error": "ExpiredToken", "message": "Token has expired"})
        return None

    def _create_record(self, request: Request) -> Response:
        behaviour = self.next_behaviour()
        if behaviour == "expire":
            with self.lock:
                self.access = {token: 0.0 for token in self.access}
        if behaviour == "ratelimit":
            return self._answer(429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}, remaining=0)
        refused = self._authorized(request)
        if refused is not None:
            return refused
        body = request.json()
        problem = self._invalid(body)
        if problem:
            return self._answer(400, {"error": "InvalidRequest", "message": problem})
        rkey = body["rkey"]
        with self.lock:
            if rkey in self.records:
                return self._answer(500, {"error": "InternalServerError", "message": "Internal Server Error"})
            uri = f"at://{DID}/app.bsky.feed.post/{rkey}"
            cid = "bafyrei" + hashlib.sha256(json.dumps(body["record"], sort_keys=True).encode()).hexdigest()[:46]
            self.records[rkey] = {"uri": uri, "cid": cid, "value": body["record"]}
        answer = {"uri": uri, "cid": cid, "validationStatus": "valid"}
        return self._answer(200, answer, stall=behaviour == "stall")

    def _invalid(self, body: dict[str, Any]) -> str | None:
        if body.get("repo") != DID:
            return "Input/repo must be the session's DID"
        if body.get("collection") != "app.bsky.feed.post":
            return "Input/collection must be app.bsky.feed.post"
        if not TID.match(str(body.get("rkey") or "")):
            return "Input/rkey must be a valid TID"
        record = body.get("record") or {}
        text = record.get("text")
        if not isinstance(text, str):
            return "Record/text must be a string"
        if len(regex.findall(r"\X", text)) > 300:
            return "Record/text must not be longer than 300 graphemes"
        if len(text.encode()) > 3000:
            return "Record/text must not be longer than 3000 characters"
        if not record.get("createdAt"):
            return 'Record must have the property "createdAt"'
        size = len(text.encode())
        for facet in record.get("facets") or []:
            index = facet.get("index") or {}
            start, end = index.get("byteStart"), index.get("byteEnd")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= size):
                return "Record/facets/index must be inside the text's bytes"
        return None

    def _get_record(self, request: Request) -> Response:
        rkey = request.query.get("rkey", "")
        with self.lock:
            found = self.records.get(rkey) if request.query.get("repo") == DID else None
        if found is None:
            uri = f"at://{request.query.get('repo')}/{request.query.get('collection')}/{rkey}"
            return self._answer(400, {"error": "RecordNotFound", "message": f"Could not locate record: {uri}"})
        return self._answer(200, found)

    def post_texts(self) -> list[str]:
        with self.lock:
            return [record["value"]["text"] for record in self.records.values()]

    def _answer(self, status: int, body: dict[str, Any], remaining: int = 4997, stall: bool = False) -> Response:
        headers = {
            "RateLimit-Limit": "5000",
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(self.reset_at),
            "RateLimit-Policy": "5000;w=3600",
        }
        return Response(status, body, headers, stall=stall)
