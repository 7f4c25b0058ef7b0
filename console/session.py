"""The console's session: a stateless signed cookie, and the CSRF token derived from it.

The cookie is ``payload.signature``: the payload (base64url JSON) names the API key by id, when the
session ends and a random nonce; the signature is the runtime's HMAC (``SecretBox.sign``, keyed from
``HERALD_SECRET_KEYS`` or the key file), so a tampered or foreign cookie is refused. The key itself is
never stored: every request loads it by id again, so revoking it ends its sessions at once. The CSRF
token is a second HMAC over the nonce, shown in each form's hidden field and checked on every POST
(with the Origin header, when the browser sends one).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from server.crypto import SecretBox

COOKIE = "herald_console"
_SESSION = "console-session|"
_CSRF = "console-csrf|"


class SessionRefused(Exception):
    """The cookie is missing, malformed, tampered with or expired: sign in again."""


@dataclass(frozen=True)
class ConsoleSession:
    key_id: str
    expires_at: int
    nonce: str


def issue(box: SecretBox, key_id: str, lifetime_seconds: int, now: float | None = None) -> tuple[str, ConsoleSession]:
    """A new session for ``key_id`` and its cookie value."""
    session = ConsoleSession(
        key_id=key_id, expires_at=int((time.time() if now is None else now) + lifetime_seconds), nonce=_nonce()
    )
    body = json.dumps({"k": session.key_id, "e": session.expires_at, "n": session.nonce}, separators=(",", ":"))
    payload = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
    return f"{payload}.{box.sign(_SESSION + payload)}", session


def read(box: SecretBox, cookie: str | None, now: float | None = None) -> ConsoleSession:
    """The session a cookie carries; ``SessionRefused`` unless it is well-formed, signed by us and unexpired."""
    if not cookie or cookie.count(".") != 1:
        raise SessionRefused("Not signed in.")
    payload, signature = cookie.split(".")
    if not box.verify(_SESSION + payload, signature):
        raise SessionRefused("The session cookie is not valid; sign in again.")
    try:
        fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        session = ConsoleSession(key_id=str(fields["k"]), expires_at=int(fields["e"]), nonce=str(fields["n"]))
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise SessionRefused("The session cookie is not valid; sign in again.") from exc
    if session.expires_at <= (time.time() if now is None else now):
        raise SessionRefused("The session expired; sign in again.")
    return session


def csrf_token(box: SecretBox, session: ConsoleSession) -> str:
    return box.sign(_CSRF + session.nonce)


def csrf_ok(box: SecretBox, session: ConsoleSession, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(csrf_token(box, session), str(token))


def origin_ok(origin: str | None, own_origin: str) -> bool:
    """A cross-site form post carries a foreign Origin; none at all is left to the token."""
    return origin is None or origin == own_origin


def _nonce() -> str:
    return secrets.token_urlsafe(16)
