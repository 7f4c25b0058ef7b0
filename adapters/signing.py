"""Standard Webhooks signatures: HMAC-SHA256 (``v1``, ``whsec_`` secrets) and ed25519 (``v1a``, ``whsk_`` secrets).

Both sign ``{webhook-id}.{webhook-timestamp}.{body}``; several signatures (a rotation overlap) are
sent space-separated in one ``webhook-signature`` header, and receivers accept any that verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

Scheme = Literal["v1", "v1a"]
HMAC_PREFIX = "whsec_"
ED25519_PREFIX = "whsk_"
PUBLIC_PREFIX = "whpk_"
SECRET_BYTES = 32
SECRET_RULE = (
    "must be 'whsec_' followed by base64 of 24 to 64 random bytes (or 'whsk_' and a base64 32-byte ed25519 seed)"
)


def secret_key(secret: str) -> bytes:
    """The raw key bytes after the prefix (empty when the secret is malformed)."""
    prefix = next((p for p in (HMAC_PREFIX, ED25519_PREFIX) if secret.startswith(p)), None)
    if prefix is None:
        return b""
    try:
        return base64.b64decode(secret.removeprefix(prefix), validate=True)
    except (binascii.Error, ValueError):
        return b""


def check_secret(secret: str) -> str:
    """The secret, or a ValueError that says what a valid one looks like (never quoting it)."""
    size = len(secret_key(secret))
    valid = 24 <= size <= 64 if secret.startswith(HMAC_PREFIX) else size == SECRET_BYTES
    if not valid:
        raise ValueError(f"{SECRET_RULE}; omit it to have Herald generate one")
    return secret


def new_signing_secret(scheme: Scheme = "v1") -> str:
    prefix = ED25519_PREFIX if scheme == "v1a" else HMAC_PREFIX
    return prefix + base64.b64encode(os.urandom(SECRET_BYTES)).decode()


def _private_key(secret: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(secret_key(secret))


def public_key(secret: str) -> str:
    """The ed25519 public key (``whpk_…``) receivers verify ``v1a`` signatures with."""
    raw = _private_key(secret).public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PUBLIC_PREFIX + base64.b64encode(raw).decode()


def revealed_for(secret: str) -> dict[str, str]:
    """What a create or rotate result shows once: the secret, and the public key of an ed25519 one."""
    if secret.startswith(ED25519_PREFIX):
        return {"signingSecret": secret, "publicKey": public_key(secret)}
    return {"signingSecret": secret}


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One signature, ``v1,<base64>`` or ``v1a,<base64>`` depending on the secret."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    if secret.startswith(ED25519_PREFIX):
        return "v1a," + base64.b64encode(_private_key(secret).sign(signed)).decode()
    return "v1," + base64.b64encode(hmac.new(secret_key(secret), signed, hashlib.sha256).digest()).decode()


def signature_header(secrets: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    return " ".join(sign(secret, message_id, timestamp, body) for secret in secrets)
