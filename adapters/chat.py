"""What the chat channels (Discord, Telegram, WhatsApp) share: the provider's base URL, the message text
within the provider's limit, and reading the provider's JSON answer.

Each of them sends one documented call with ``io.http.exchange`` (an unclassified answer: these providers
speak in their body) and classifies the answer itself.
"""

from __future__ import annotations

import json
import math
from typing import Any

from adapters.base import Content, Policy
from adapters.http_client.classify import EXCERPT_CHARS
from adapters.io import HttpAnswer
from adapters.render import apply_policy, checked_url, truncate


def base_url(value: str) -> str:
    """An http(s) base URL without a trailing slash (a path is kept: ``…/api/v10``, ``…/v25.0``)."""
    return checked_url(value).rstrip("/")


def body_of(answer: HttpAnswer) -> dict[str, Any]:
    """The answer's JSON object; {} when it is not one (a proxy's HTML error page, an empty body)."""
    try:
        parsed = json.loads(answer.text or "")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def obj(value: object) -> dict[str, Any]:
    """``value`` when it is a JSON object, else {} (providers' optional fields)."""
    return value if isinstance(value, dict) else {}


def excerpt(answer: HttpAnswer) -> str | None:
    return (answer.text or "")[:EXCERPT_CHARS] or None


def seconds(value: object) -> float | None:
    """A finite, non-negative number of seconds from a JSON number or a header string; None otherwise."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return max(number, 0.0) if math.isfinite(number) else None


def fit(text: str, limit: int, mode: str) -> str:
    """``text`` cut to ``limit`` characters the policy's way (``ellipsis``, ``word`` or ``hard``)."""
    return truncate(text, limit, mode)


def message_parts(content: Content, policy: Policy, limit: int, *, title: bool = True) -> tuple[str, str, str]:
    """(title, body, link) whose visible text ``title\\n\\nbody\\n\\nlink`` fits ``limit`` characters.

    The policy shapes the body first (excerpt, attribution, its own maximum); the provider's limit then
    cuts the body, never the title's first line or the link, with the policy's truncation mode.
    """
    heading = fit(content.title.strip(), limit, policy.truncate) if title and content.title.strip() else ""
    body = apply_policy(content, policy).strip()
    link = content.url or ""
    if link and link in body:
        link = ""
    fixed = len(heading) + (2 if heading else 0) + (len(link) + 2 if link else 0)
    if fixed > limit:
        link = ""
        fixed = len(heading) + (2 if heading else 0)
    room = limit - fixed
    return heading, fit(body, room, policy.truncate) if room > 0 else "", link


def joined(*parts: str) -> str:
    return "\n\n".join(part for part in parts if part)


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")


def looks_like_image(url: str) -> bool:
    path = url.split("?", 1)[0].split("#", 1)[0].lower()
    return path.endswith(IMAGE_SUFFIXES)
