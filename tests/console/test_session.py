"""The console's session cookie and CSRF token: signed, expiring, bound to their session."""

from __future__ import annotations

import base64
import json

import pytest

from console import session as cookies
from server.crypto import SecretBox

BOX = SecretBox([b"k" * 32])
OTHER = SecretBox([b"o" * 32])
NOW = 1_800_000_000.0


def test_a_fresh_cookie_reads_back_its_session() -> None:
    value, issued = cookies.issue(BOX, "key_1", 600, now=NOW)
    assert cookies.read(BOX, value, now=NOW + 599) == issued
    assert (issued.key_id, issued.expires_at) == ("key_1", int(NOW) + 600)


def test_an_expired_cookie_is_refused() -> None:
    value, _ = cookies.issue(BOX, "key_1", 600, now=NOW)
    with pytest.raises(cookies.SessionRefused, match="expired"):
        cookies.read(BOX, value, now=NOW + 600)


@pytest.mark.parametrize("cookie", [None, "", "no-dot", "a.b.c", "e30.sig"])
def test_a_missing_or_malformed_cookie_is_refused(cookie: str | None) -> None:
    with pytest.raises(cookies.SessionRefused):
        cookies.read(BOX, cookie, now=NOW)


def test_a_tampered_payload_is_refused() -> None:
    value, _ = cookies.issue(BOX, "key_1", 600, now=NOW)
    payload, signature = value.split(".")
    fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**fields, "k": "key_admin"}).encode()).decode().rstrip("=")
    with pytest.raises(cookies.SessionRefused, match="not valid"):
        cookies.read(BOX, f"{forged}.{signature}", now=NOW)


def test_a_cookie_signed_by_another_server_is_refused() -> None:
    value, _ = cookies.issue(OTHER, "key_1", 600, now=NOW)
    with pytest.raises(cookies.SessionRefused, match="not valid"):
        cookies.read(BOX, value, now=NOW)


def test_the_csrf_token_belongs_to_one_session() -> None:
    _, mine = cookies.issue(BOX, "key_1", 600, now=NOW)
    _, theirs = cookies.issue(BOX, "key_1", 600, now=NOW)
    token = cookies.csrf_token(BOX, mine)
    assert cookies.csrf_ok(BOX, mine, token)
    assert not cookies.csrf_ok(BOX, theirs, token)
    assert not cookies.csrf_ok(BOX, mine, None)
    assert not cookies.csrf_ok(BOX, mine, "")
    assert not cookies.csrf_ok(BOX, mine, token[:-1] + ("A" if token[-1] != "A" else "B"))


def test_only_a_foreign_origin_is_refused() -> None:
    own = "http://127.0.0.1:8000"
    assert cookies.origin_ok(own, own) and cookies.origin_ok(None, own)
    assert not cookies.origin_ok("http://evil.example", own)
    assert not cookies.origin_ok("null", own)
