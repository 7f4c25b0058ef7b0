"""Removing secrets from anything that is stored or shown: errors, attempts, audit input."""

from __future__ import annotations

from typing import Any

MASK = "[redacted]"
SECRET_FIELDS = {"credentials"}


def redact(text: str | None, secrets: list[str]) -> str | None:
    if text is None:
        return None
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def redact_input(arguments: dict[str, Any]) -> dict[str, Any]:
    """Audit-safe copy of an operation's input: secret-bearing fields are masked whole."""
    return {key: (MASK if key in SECRET_FIELDS and value is not None else value) for key, value in arguments.items()}
