"""A faithful fake of Google's OAuth token endpoint and Drive v3 (multipart files.create, files.list).

``/token`` takes the JWT-bearer grant and checks the assertion as Google does: RS256 signature by the
service account's key, ``iss``, ``aud`` = the token URI, ``exp`` at most an hour after ``iat``
(400 ``invalid_grant``). Uploads need a live access token (401 ``authError``), parse
``multipart/related`` (metadata JSON, then the bytes; at most 5 MB), need the parent folder to
exist and ``supportsAllDrives=true`` for a Shared Drive (404 ``notFound``), and honour ``fields=``.
``files.list`` answers ``q="appProperties has { key='…' and value='…' }"``. Script names:
``ratelimit403`` (403 ``userRateLimitExceeded``), ``ratelimit429``, ``stall``, ``revoke`` (every
access token stops working), ``quota`` (403 ``storageQuotaExceeded``).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support.fakes.provider import FakeProvider, Request, Response

QUERY = re.compile(r"appProperties has \{ key='([^']*)' and value='([^']*)' \}")


def google_error(code: int, reason: str, message: str, status: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [
                {"message": message, "domain": "usageLimits" if "Rate" in reason else "global", "reason": reason}
            ],
            "status": status,
        }
    }


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class FakeDrive(FakeProvider):
    def __init__(self, public_key: rsa.RSAPublicKey, client_email: str, folder_id: str = "0AFolderShared") -> None:
        super().__init__()
        self.public_key, self.client_email = public_key, client_email
        self.folders = {folder_id}
        self.tokens: dict[str, float] = {}
        self.grants = 0
        self.files: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    @property
    def token_uri(self) -> str:
        return self.url + "/token"

    def handle(self, request: Request) -> Response:
        if request.path == "/token" and request.method == "POST":
            return self._token(request)
        if request.path == "/upload/drive/v3/files" and request.method == "POST":
            return self._upload(request)
        if request.path == "/drive/v3/files" and request.method == "GET":
            return self._list(request)
        return Response(404, google_error(404, "notFound", "Not Found", "NOT_FOUND"))

    def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return Response(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"})
        try:
            header_b64, claims_b64, signature_b64 = form.get("assertion", "").split(".")
            header, claims = json.loads(_unb64(header_b64)), json.loads(_unb64(claims_b64))
            self.public_key.verify(
                _unb64(signature_b64), f"{header_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except (ValueError, InvalidSignature):
            return Response(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        now = time.time()
        if header.get("alg") != "RS256" or claims.get("iss") != self.client_email:
            return Response(400, {"error": "invalid_grant", "error_description": "Invalid JWT: iss"})
        if claims.get("aud") != self.token_uri:
            return Response(400, {"error": "invalid_grant", "error_description": "Invalid JWT: aud"})
        if not (claims.get("iat", 0) - 300 <= now < claims.get("exp", 0) <= claims.get("iat", 0) + 3600):
            return Response(
                400, {"error": "invalid_grant", "error_description": "Invalid JWT: Token must be a short-lived token"}
            )
        token = f"ya29.fake-{next(self._ids)}"
        with self.lock:
            self.tokens[token] = now + 3599
            self.grants += 1
        return Response(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _authorized(self, request: Request) -> Response | None:
        expiry = self.tokens.get(request.bearer or "")
        if expiry is None or expiry <= time.time():
            return Response(401, google_error(401, "authError", "Invalid Credentials", "UNAUTHENTICATED"))
        return None

    def _upload(self, request: Request) -> Response:
        behaviour = self.next_behaviour()
        if behaviour == "revoke":
            with self.lock:
                self.tokens.clear()
        refused = self._authorized(request)
        if refused is not None:
            return refused
        if behaviour == "ratelimit403":
            return Response(
                403, google_error(403, "userRateLimitExceeded", "User Rate Limit Exceeded.", "PERMISSION_DENIED")
            )
        if behaviour == "ratelimit429":
            return Response(429, google_error(429, "rateLimitExceeded", "Rate Limit Exceeded", "RESOURCE_EXHAUSTED"))
        if behaviour == "quota":
            return Response(
                403,
                google_error(
                    403, "storageQuotaExceeded", "Service Accounts do not have storage quota.", "PERMISSION_DENIED"
                ),
            )
        if request.query.get("uploadType") != "multipart":
            return Response(400, google_error(400, "badRequest", "Unsupported uploadType", "INVALID_ARGUMENT"))
        if len(request.body) > 5 * 1024 * 1024:
            return Response(413, google_error(413, "uploadTooLarge", "Request Too Large", "INVALID_ARGUMENT"))
        parts = self._parts(request)
        if parts is None:
            return Response(400, google_error(400, "badContent", "Malformed multipart body.", "INVALID_ARGUMENT"))
        (meta_type, meta), (media_type, data) = parts
        metadata = json.loads(meta)
        parents = metadata.get("parents") or []
        if not meta_type.startswith("application/json") or any(p not in self.folders for p in parents):
            return Response(404, google_error(404, "notFound", f"File not found: {parents}.", "NOT_FOUND"))
        if request.query.get("supportsAllDrives") != "true":
            return Response(404, google_error(404, "notFound", f"File not found: {parents}.", "NOT_FOUND"))
        file_id = f"1FakeFile{next(self._ids):06d}"
        stored = {
            "kind": "drive#file",
            "id": file_id,
            "name": metadata.get("name", "Untitled"),
            "mimeType": metadata.get("mimeType", media_type.split(";")[0]),
            "parents": parents,
            "appProperties": metadata.get("appProperties") or {},
            "webViewLink": f"https://drive.google.com/file/d/{file_id}/view?usp=drivesdk",
            "data": data,
            "mediaType": media_type,
        }
        with self.lock:
            self.files[file_id] = stored
        return Response(200, self._project(stored, request.query.get("fields")), stall=behaviour == "stall")

    def _parts(self, request: Request) -> list[tuple[str, bytes]] | None:
        match = re.search(r"boundary=([^;]+)", request.headers.get("content-type", ""))
        if not request.headers.get("content-type", "").startswith("multipart/related") or match is None:
            return None
        boundary = match.group(1).strip('"').encode()
        chunks = request.body.split(b"--" + boundary)
        if len(chunks) != 4 or not chunks[3].startswith(b"--"):
            return None
        parts = []
        for chunk in chunks[1:3]:
            if not (chunk.startswith(b"\r\n") and chunk.endswith(b"\r\n")):
                return None
            head, _, body = chunk[2:-2].partition(b"\r\n\r\n")
            content_type = ""
            for line in head.decode().split("\r\n"):
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-type":
                    content_type = value.strip()
            parts.append((content_type, body))
        return parts

    def _project(self, file: dict[str, Any], fields: str | None) -> dict[str, Any]:
        names = [f.strip() for f in (fields or "kind,id,name,mimeType").split(",")]
        return {name: file[name] for name in names if name in file}

    def _list(self, request: Request) -> Response:
        refused = self._authorized(request)
        if refused is not None:
            return refused
        match = QUERY.search(request.query.get("q", ""))
        if match is None:
            return Response(400, google_error(400, "invalid", "Invalid Value", "INVALID_ARGUMENT"))
        key, value = match.groups()
        with self.lock:
            found = [f for f in self.files.values() if f["appProperties"].get(key) == value]
        listed = [{"id": f["id"], "name": f["name"], "webViewLink": f["webViewLink"]} for f in found]
        return Response(200, {"files": listed[: int(request.query.get("pageSize") or 100)]})
