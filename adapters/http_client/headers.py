"""Extra request headers users may configure: validated names and values, merged case-insensitively."""

from __future__ import annotations

import re

MAX_HEADERS = 30
MAX_VALUE_CHARS = 4096
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}")
_VALUE = re.compile(r"[\x20-\x7e\t]*")
# Set by the transport or the channel itself; a user value would be ignored or would break delivery.
RESERVED = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "user-agent", "accept-encoding", "content-type"}
)


def check_headers(
    headers: dict[str, str], reserved: frozenset[str] = RESERVED, prefixes: tuple[str, ...] = ()
) -> dict[str, str]:
    """Raise ValueError naming the first unusable header; never quotes a value (it may be a secret)."""
    if len(headers) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} headers are allowed")
    seen: set[str] = set()
    for name, value in headers.items():
        lowered = name.lower()
        problem = header_problem(name, value)
        if problem:
            raise ValueError(problem)
        if lowered in reserved or lowered.startswith(prefixes):
            raise ValueError(f"header {name!r} is set by Herald and cannot be overridden; remove it")
        if lowered in seen:
            raise ValueError(f"header {name!r} is given twice (names are case-insensitive)")
        seen.add(lowered)
    return headers


def header_problem(name: str, value: str) -> str | None:
    """What makes a header unsendable, or None; names the header, never quotes the value."""
    if not _TOKEN.fullmatch(name):
        return f"header name {name!r} is invalid; use letters, digits and '-'"
    if len(value) > MAX_VALUE_CHARS or not _VALUE.fullmatch(value):
        return f"the value of header {name!r} must be printable ASCII of at most {MAX_VALUE_CHARS} characters"
    return None


def first_header_problem(headers: dict[str, str]) -> str | None:
    """``header_problem`` of the first unsendable header, or None; runs on every send, hence the inlined checks."""
    for name, value in headers.items():
        if not (_TOKEN.fullmatch(name) and len(value) <= MAX_VALUE_CHARS and _VALUE.fullmatch(value)):
            return header_problem(name, value)
    return None


def merge_headers(*layers: dict[str, str]) -> dict[str, str]:
    """Later layers win, whatever the case of the names."""
    merged: dict[str, tuple[str, str]] = {}
    for layer in layers:
        merged.update({name.lower(): (name, value) for name, value in layer.items()})
    return dict(merged.values())
