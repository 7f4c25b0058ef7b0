"""Removing secrets from anything that is stored or shown: errors, attempts, audit input."""

from __future__ import annotations

import base64
from typing import Any

MASK = "[redacted]"
SECRET_FIELDS = {"credentials"}


def redact(text: str | None, secrets: list[str]) -> str | None:
    if text is None:
        return None
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def secret_values(credentials: Any) -> list[str]:
    """Every string leaf of a credentials document (header maps and lists included)."""
    if isinstance(credentials, str):
        if "-----BEGIN" in credentials:  # a PEM key (a Drive service account's): each of its lines too
            lines = [line.strip() for line in credentials.replace("\\n", "\n").splitlines()]
            return [credentials, *(line for line in lines if len(line) >= 16 and not line.startswith("-----"))]
        return [credentials]
    if isinstance(credentials, dict):
        values = [value for item in credentials.values() for value in secret_values(item)]
        if isinstance(credentials.get("username"), str) and isinstance(credentials.get("password"), str):
            pair = f"{credentials['username']}:{credentials['password']}".encode()
            values.append(base64.b64encode(pair).decode())  # what a Basic auth header carries
        return values
    if isinstance(credentials, list):
        return [value for item in credentials for value in secret_values(item)]
    return []


def redact_input(arguments: dict[str, Any]) -> dict[str, Any]:
    """Audit-safe copy of an operation's input: secret-bearing fields are masked whole."""
    return {key: (MASK if key in SECRET_FIELDS and value is not None else value) for key, value in arguments.items()}
