"""Authenticated encryption of stored secrets (AES-256-GCM), bound to the row they belong to.

A blob is ``version(1) | key id(4) | nonce(12) | ciphertext+tag``. The key id lets several keys
coexist (``HERALD_SECRET_KEYS``, newest first): the newest encrypts, any listed key decrypts.
The associated data (e.g. ``target:tgt_…``) makes a blob copied to another row fail to decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from server.config import Settings

log = logging.getLogger(__name__)
_VERSION = b"\x01"


class SecretBoxError(Exception):
    pass


class SecretBox:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise SecretBoxError("at least one encryption key is required")
        for key in keys:
            if len(key) != 32:
                raise SecretBoxError("each HERALD_SECRET_KEYS entry must be 32 bytes, base64-encoded")
        self._keys = {_key_id(key): AESGCM(key) for key in keys}
        self._raw = {_key_id(key): key for key in keys}
        self._newest = _key_id(keys[0])

    def encrypt(self, plaintext: bytes, bound_to: str) -> bytes:
        nonce = os.urandom(12)
        sealed = self._keys[self._newest].encrypt(nonce, plaintext, bound_to.encode())
        return _VERSION + self._newest + nonce + sealed

    def decrypt(self, blob: bytes, bound_to: str) -> bytes:
        if blob[:1] != _VERSION:
            raise SecretBoxError("unknown secret blob version")
        aead = self._keys.get(blob[1:5])
        if aead is None:
            raise SecretBoxError("the key that encrypted this secret is not in HERALD_SECRET_KEYS")
        try:
            return aead.decrypt(blob[5:17], blob[17:], bound_to.encode())
        except InvalidTag as exc:
            raise SecretBoxError("secret failed authentication (wrong key or wrong row)") from exc

    def sign(self, message: str) -> str:
        """An HMAC (newest key) for short-lived tokens such as plan confirmations."""
        mac = hmac.new(
            hashlib.sha256(b"herald-sign|" + self._raw[self._newest]).digest(), message.encode(), hashlib.sha256
        )
        return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")

    def verify(self, message: str, signature: str) -> bool:
        return any(
            hmac.compare_digest(
                base64.urlsafe_b64encode(
                    hmac.new(hashlib.sha256(b"herald-sign|" + raw).digest(), message.encode(), hashlib.sha256).digest()
                )
                .decode()
                .rstrip("="),
                signature,
            )
            for raw in self._raw.values()
        )

    def encrypt_json(self, value: Any, bound_to: str) -> bytes:
        return self.encrypt(json.dumps(value, separators=(",", ":")).encode(), bound_to)

    def decrypt_json(self, blob: bytes, bound_to: str) -> Any:
        return json.loads(self.decrypt(blob, bound_to))


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:4]


def load_secret_box(settings: Settings) -> SecretBox:
    if settings.secret_keys:
        keys = [base64.b64decode(part.strip()) for part in settings.secret_keys.split(",") if part.strip()]
        return SecretBox(keys)
    return SecretBox([_embedded_key(settings.data_dir / "secret.key")])


def _embedded_key(path: Path) -> bytes:
    if path.exists():
        return base64.b64decode(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = AESGCM.generate_key(bit_length=256)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode())
    log.warning(
        "Created credential encryption key file %s (mode 0600). Back it up; set HERALD_SECRET_KEYS in production.", path
    )
    return key
