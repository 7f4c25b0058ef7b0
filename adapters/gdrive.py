"""Google Drive: the content as one file, a multipart ``files.create`` into a folder (Shared Drives included).

Auth is a service account: Herald signs a JWT (RS256, ``cryptography``) and trades it at the token URI
for an access token, cached per worker in ``io.tokens`` until a minute before it expires and fetched
again after a 401. Every file carries ``appProperties.heraldDeliveryId``, so after a timeout
``reconcile`` finds it with ``files.list`` instead of uploading a second copy. Drive signals rate
limits as 403 ``userRateLimitExceeded`` / ``rateLimitExceeded`` or a 429, without a reset time:
the target is paused with the engine's growing back-off.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import Field, field_validator

from adapters.base import (
    Addressing,
    ChannelIO,
    ChannelLimits,
    ChannelName,
    ChannelPayload,
    ConfigError,
    Content,
    DeliveryContext,
    Endpoint,
    Policy,
    Receipt,
    RecipientView,
    TargetView,
    Validated,
)
from adapters.io import HttpAnswer, Token
from adapters.provider import (
    DELIVERY_ID,
    body_json,
    header_seconds,
    permanent,
    rate_limited,
    server_error,
    systemic,
)
from adapters.render import ChannelModel, apply_policy, checked_url, json_bytes, validate_model
from adapters.tokens import cached, token_key

API_BASE_URL = "https://www.googleapis.com"
TOKEN_URI = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/drive.file"
MAX_MULTIPART_BYTES = 5 * 1024 * 1024
PROPERTY = "heraldDeliveryId"
FIELDS = "id,name,webViewLink,appProperties"
RATE_REASONS = {"userRateLimitExceeded", "rateLimitExceeded", "sharingRateLimitExceeded"}
SYSTEMIC_REASONS = {
    "storageQuotaExceeded": "the account has no storage left (a service account has none: use a Shared Drive folder)",
    "insufficientFilePermissions": "the service account cannot write to the folder; share it (Content manager)",
    "insufficientPermissions": "the service account cannot write to the folder; share it (Content manager)",
    "domainPolicy": "the domain's policy forbids this app",
    "dailyLimitExceeded": "the project's daily quota is used up",
}
EXTENSIONS = {"text/markdown": ".md", "text/plain": ".txt", "text/html": ".html", "application/json": ".json"}
BOUNDARY = "herald-drive-part"


class DriveConfig(ChannelModel):
    folder_id: str = Field(min_length=1, max_length=200)
    api_base_url: str = API_BASE_URL
    token_uri: str = TOKEN_URI
    mime_type: Literal["text/markdown", "text/plain", "text/html", "application/json"] = "text/markdown"
    file_name: str = Field("{title}", min_length=1, max_length=200, description="{title}, {id}, {version}")
    subject: str | None = Field(None, description="a user to impersonate (domain-wide delegation)")
    scope: str = SCOPE

    @field_validator("api_base_url", "token_uri")
    @classmethod
    def _url(cls, value: str) -> str:
        return checked_url(value).rstrip("/")

    @field_validator("file_name")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            value.format(title="t", id="i", version="v")
        except (KeyError, IndexError, ValueError):
            raise ValueError("use only the placeholders {title}, {id} and {version}") from None
        return value


class DriveCredentials(ChannelModel):
    client_email: str = Field(min_length=3)
    private_key: str = Field(min_length=64)
    private_key_id: str | None = None

    @field_validator("private_key")
    @classmethod
    def _key(cls, value: str) -> str:
        try:
            key = serialization.load_pem_private_key(value.encode(), password=None)
        except (ValueError, TypeError):
            raise ValueError("give the service account's PEM private key (private_key in its JSON key file)") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("a service-account key is RSA")
        return value


Target = TargetView[DriveConfig, DriveCredentials]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_assertion(credentials: DriveCredentials, config: DriveConfig, now: float) -> str:
    """The JWT-bearer grant's assertion: RS256 over header.claims, valid for an hour."""
    header: dict[str, str] = {"alg": "RS256", "typ": "JWT"}
    if credentials.private_key_id:
        header["kid"] = credentials.private_key_id
    claims: dict[str, Any] = {
        "iss": credentials.client_email,
        "scope": config.scope,
        "aud": config.token_uri,
        "iat": int(now),
        "exp": int(now) + 3600,
    }
    if config.subject:
        claims["sub"] = config.subject
    signing_input = f"{_b64(json_bytes(header))}.{_b64(json_bytes(claims))}"
    key = serialization.load_pem_private_key(credentials.private_key.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


def multipart(metadata: dict[str, Any], media_type: str, data: bytes) -> bytes:
    """``multipart/related``: the file's metadata as JSON, then its bytes."""
    return b"".join(
        [
            f"--{BOUNDARY}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode(),
            json_bytes(metadata),
            f"\r\n--{BOUNDARY}\r\nContent-Type: {media_type}\r\n\r\n".encode(),
            data,
            f"\r\n--{BOUNDARY}--\r\n".encode(),
        ]
    )


def file_text(content: Content, policy: Policy, mime_type: str) -> str:
    body = apply_policy(content, policy)
    if mime_type == "application/json":
        fields = {
            "id": content.id,
            "version": content.version,
            "title": content.title,
            "body": body,
            "url": content.url,
            "metadata": dict(content.metadata),
        }
        return json.dumps(fields, ensure_ascii=False, indent=2)
    if mime_type == "text/html":
        from html import escape

        link = f'\n<p><a href="{escape(content.url)}">{escape(content.url)}</a></p>' if content.url else ""
        return f"<h1>{escape(content.title)}</h1>\n<p>{escape(body)}</p>{link}\n"
    heading = f"# {content.title}" if mime_type == "text/markdown" else content.title
    return f"{heading}\n\n{body}\n" + (f"\n{content.url}\n" if content.url else "")


class DriveChannel:
    name: ClassVar[ChannelName] = ChannelName.GDRIVE
    addressing: ClassVar[Addressing] = "broadcast"
    description: ClassVar[str] = (
        "Google Drive file in a folder (service account, scope drive.file); a Shared Drive folder is needed."
    )
    config_model = DriveConfig
    credentials_model: type[DriveCredentials] | None = DriveCredentials
    limits = ChannelLimits(max_body_bytes=MAX_MULTIPART_BYTES)

    def validate(
        self, config: dict[str, Any], credentials: dict[str, Any] | None
    ) -> Validated[DriveConfig, DriveCredentials]:
        checked = validate_model(DriveConfig, config, "config")
        if not credentials:
            raise ConfigError("credentials: give the service account's clientEmail and privateKey.", "credentials")
        secrets = validate_model(DriveCredentials, credentials, "credentials")
        endpoints = (
            Endpoint(checked.api_base_url, "config.apiBaseUrl"),
            Endpoint(checked.token_uri, "config.tokenUri"),
        )
        return Validated(checked, secrets, endpoints=endpoints)

    def render(
        self, content: Content, policy: Policy, target: Target, recipient: RecipientView | None = None
    ) -> ChannelPayload:
        config = target.config
        name = config.file_name.format(title=content.title, id=content.id, version=content.version)
        extension = EXTENSIONS[config.mime_type]
        metadata = {
            "name": name if name.endswith(extension) else name + extension,
            "parents": [config.folder_id],
            "mimeType": config.mime_type,
            "appProperties": {PROPERTY: DELIVERY_ID},
        }
        media = {
            "contentType": f"{config.mime_type}; charset=UTF-8",
            "text": file_text(content, policy, config.mime_type),
        }
        return ChannelPayload(
            body={"metadata": metadata, "media": media}, content_type=f"multipart/related; boundary={BOUNDARY}"
        )

    async def send(self, payload: ChannelPayload, target: Target, delivery: DeliveryContext, io: ChannelIO) -> Receipt:
        metadata = {**payload.body["metadata"], "appProperties": {PROPERTY: delivery.delivery_id}}
        media = payload.body["media"]
        data = multipart(metadata, media["contentType"], media["text"].encode())
        if len(data) > MAX_MULTIPART_BYTES:
            raise permanent(
                "The file is over Drive's 5 MB multipart limit; shorten the content.", None, "DRIVE_TOO_LARGE"
            )
        query = urlencode({"uploadType": "multipart", "supportsAllDrives": "true", "fields": FIELDS})
        url = f"{target.config.api_base_url}/upload/drive/v3/files?{query}"
        answer = await _authorized(target, io, "POST", url, data, payload.content_type)
        if answer.status_code == 200:
            body = body_json(answer)
            return _receipt(body, answer.status_code)
        raise _error(answer)

    async def reconcile(
        self, payload: ChannelPayload, target: Target, delivery: DeliveryContext, io: ChannelIO
    ) -> Receipt | None:
        """``files.list`` for the file carrying this delivery's id; None when there is none."""
        value = delivery.delivery_id.replace("\\", "\\\\").replace("'", "\\'")
        query = urlencode(
            {
                "q": f"appProperties has {{ key='{PROPERTY}' and value='{value}' }} and trashed=false",
                "supportsAllDrives": "true",
                "includeItemsFromAllDrives": "true",
                "fields": "files(id,name,webViewLink)",
                "pageSize": "1",
            }
        )
        url = f"{target.config.api_base_url}/drive/v3/files?{query}"
        answer = await _authorized(target, io, "GET", url, b"", None)
        if answer.status_code != 200:
            raise _error(answer)
        files = body_json(answer).get("files") or []
        return _receipt(files[0], answer.status_code) if files else None


def _receipt(file: dict[str, Any], status: int) -> Receipt:
    return Receipt(
        external_id=file.get("id"),
        meta={"webViewLink": file.get("webViewLink"), "name": file.get("name"), "statusCode": status},
    )


async def _authorized(
    target: Target, io: ChannelIO, method: str, url: str, data: bytes, content_type: str | None
) -> HttpAnswer:
    """One Drive request with the cached access token; after a 401, once more with a new token."""
    for retry in (False, True):
        token = await _token(target, io)
        headers = {"Authorization": f"Bearer {token.value}"}
        if content_type:
            headers["Content-Type"] = content_type
        answer = await io.http.exchange(method, url, headers=headers, content=data)
        if answer.status_code != 401 or retry:
            return answer
        if io.tokens is not None:
            io.tokens.invalidate(_key(target), token)
    raise AssertionError("unreachable")


def _key(target: Target) -> str:
    assert target.credentials is not None
    digest = hashlib.sha256(target.credentials.private_key.encode()).hexdigest()
    config = target.config
    return token_key("gdrive", config.token_uri, config.scope, config.subject, target.credentials.client_email, digest)


async def _token(target: Target, io: ChannelIO) -> Token:
    if target.credentials is None:
        raise systemic("The Drive target has no service-account key; set credentials.", None, "DRIVE_NO_CREDENTIALS")
    credentials, config = target.credentials, target.config

    async def fetch(previous: Token | None) -> Token:
        now = time.time()
        form = urlencode(
            {
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": signed_assertion(credentials, config, now),
            }
        ).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        answer = await io.http.exchange("POST", config.token_uri, headers=headers, content=form)
        body = body_json(answer)
        if answer.status_code == 200 and body.get("access_token"):
            return Token(str(body["access_token"]), now + float(body.get("expires_in") or 3600))
        if answer.status_code == 429:
            seconds = header_seconds(answer.headers.get("retry-after"))
            raise rate_limited("Google's token endpoint rate-limited Herald.", answer, seconds, "DRIVE_TOKEN_429")
        if answer.status_code >= 500:
            raise server_error("Google's token endpoint", answer)
        error = body.get("error_description") or body.get("error") or f"HTTP {answer.status_code}"
        raise systemic(
            f"Google refused the service-account grant ({error}); check clientEmail, privateKey and the server clock.",
            answer,
            "DRIVE_TOKEN_REFUSED",
        )

    return await cached(io.tokens, _key(target), fetch)


def _reason(body: dict[str, Any]) -> str:
    error = body.get("error")
    if not isinstance(error, dict):
        return ""
    errors = error.get("errors") or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    return str(first.get("reason") or error.get("status") or "")


def _error(answer: HttpAnswer) -> Exception:
    body = body_json(answer)
    reason, status = _reason(body), answer.status_code
    code = f"DRIVE_{reason.upper() or status}"[:60]
    if status == 429 or (status == 403 and reason in RATE_REASONS):
        seconds = header_seconds(answer.headers.get("retry-after"))
        return rate_limited(f"Drive rate-limited the project ({reason or 'HTTP 429'}).", answer, seconds, code)
    if status >= 500:
        return server_error("Drive", answer)
    if status == 401:
        return systemic("Drive refused a new access token (HTTP 401); check the service account.", answer, code)
    if status == 403:
        why = SYSTEMIC_REASONS.get(reason, "access is denied")
        return systemic(f"Drive refused the upload: {why} ({reason or 'HTTP 403'}).", answer, code)
    if status == 404:
        return permanent(
            "Drive does not see the folder; check config.folderId and share it with the service account.", answer, code
        )
    return permanent(f"Drive refused the upload ({reason or status}); retrying will not help.", answer, code)


__all__ = ["DriveChannel", "DriveConfig", "DriveCredentials", "multipart", "signed_assertion"]
