"""Typed, prefixed, time-sortable ids (``tgt_01J…``): the prefix says what an id names."""

from __future__ import annotations

import base64
import os
import threading
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
    "recipient": "rcp",
    "schedule": "sch",
    "schedule_run": "run",
    "worker": "wkr",
    "selection_pool": "spl",
    "alert_rule": "alr",
}


_FROM_BASE32HEX = bytes.maketrans(b"0123456789ABCDEFGHIJKLMNOPQRSTUV", _ALPHABET.encode())


def _encode(number: int, length: int) -> str:
    """``number`` in ``length`` Crockford base32 digits (base32hex shares its digit order; one table swaps them)."""
    width = -(-length * 5 // 40) * 5  # whole 40-bit groups: no padding
    digits = base64.b32hexencode(number.to_bytes(width, "big"))[-length:]
    return digits.translate(_FROM_BASE32HEX).decode()


_lock = threading.Lock()
_last = [0, 0]  # (millis, random part) of the previous id made by this process


def new_id(kind: str) -> str:
    """48 bits of milliseconds then 80 random bits: sorts by creation time.

    Within one process ids are strictly increasing (monotonic ULID): in the same millisecond
    the random part is incremented, so events written together keep their order.
    """
    with _lock:
        millis = int(time.time() * 1000)
        if millis <= _last[0]:
            millis, rand = _last[0], (_last[1] + 1) % (1 << 80)
        else:
            rand = int.from_bytes(os.urandom(10)) >> 1  # headroom for increments
        _last[0], _last[1] = millis, rand
    return f"{PREFIXES[kind]}_{_encode((millis << 80) | rand, 26)}"


def check_id(kind: str, value: str, field: str = "id") -> str:
    prefix = PREFIXES[kind] + "_"
    if not value.startswith(prefix):
        raise ValidationFailed(
            f"{field} {value!r} is not a {kind.replace('_', ' ')} id: expected an id starting with {prefix!r}.",
            field=field,
        )
    return value
