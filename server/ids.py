"""Typed, prefixed, time-sortable ids (``tgt_01J…``): the prefix says what an id names."""

from __future__ import annotations

import os
import time

from server.errors import ValidationFailed

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case

PREFIXES = {
    "workspace": "ws",
    "api_key": "key",
    "target": "tgt",
    "plan": "pln",
    "job": "job",
    "attempt": "att",
    "receipt": "rcpt",
    "event": "evt",
    "audit": "aud",
    "dead_letter": "dlq",
}


def _encode(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, rest = divmod(number, 32)
        chars.append(_ALPHABET[rest])
    return "".join(reversed(chars))


def new_id(kind: str) -> str:
    """48 bits of milliseconds then 80 random bits: sorts by creation time."""
    millis = int(time.time() * 1000)
    return f"{PREFIXES[kind]}_{_encode(millis, 10)}{_encode(int.from_bytes(os.urandom(10)), 16)}"


def check_id(kind: str, value: str, field: str = "id") -> str:
    prefix = PREFIXES[kind] + "_"
    if not value.startswith(prefix):
        raise ValidationFailed(
            f"{field} {value!r} is not a {kind.replace('_', ' ')} id: expected an id starting with {prefix!r}.",
            field=field,
        )
    return value
