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


_WIDTH = 20  # bytes holding an id's 130 bits (26 digits) in whole 40-bit groups: 32 digits, no padding


def _encode(numbers: list[int]) -> list[str]:
    """Each number in 26 Crockford base32 digits, in one pass: base32hex shares its digit order (one table
    swaps them), and 20 bytes are 32 whole digits, so the numbers are encoded side by side."""
    packed = b"".join(number.to_bytes(_WIDTH, "big") for number in numbers)
    digits = base64.b32hexencode(packed).translate(_FROM_BASE32HEX).decode()
    return [digits[start + 6 : start + 32] for start in range(0, len(digits), 32)]


_lock = threading.Lock()
_last = [0, 0]  # (millis, random part) of the previous id made by this process


def new_id(kind: str) -> str:
    """48 bits of milliseconds then 80 random bits: sorts by creation time.

    Within one process ids are strictly increasing (monotonic ULID): in the same millisecond
    the random part is incremented, so events written together keep their order.
    """
    return new_ids(kind, 1)[0]


def new_ids(kind: str, count: int) -> list[str]:
    """``count`` ids in increasing order, as ``count`` calls of ``new_id`` make them (a plan's jobs at once)."""
    with _lock:
        millis = int(time.time() * 1000)
        if millis <= _last[0]:
            millis, rand = _last[0], _last[1] + 1
        else:
            rand = int.from_bytes(os.urandom(10)) >> 1  # headroom for increments
        numbers = [(millis << 80) | ((rand + i) % (1 << 80)) for i in range(count)]
        _last[0], _last[1] = millis, (rand + count - 1) % (1 << 80)
    prefix = f"{PREFIXES[kind]}_"
    return [prefix + digits for digits in _encode(numbers)]


def check_id(kind: str, value: str, field: str = "id") -> str:
    prefix = PREFIXES[kind] + "_"
    if not value.startswith(prefix):
        raise ValidationFailed(
            f"{field} {value!r} is not a {kind.replace('_', ' ')} id: expected an id starting with {prefix!r}.",
            field=field,
        )
    return value
