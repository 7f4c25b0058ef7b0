"""A run's content: the template's fixed content, or a page fetched at run time and mapped; and its conditions.

Fetching goes through the runtime's hardened HTTP client (``rt.delivery_loop``'s ``ChannelIO.http``):
the SSRF guard where sockets open, one deadline, a bounded body (64 KiB). JSON is mapped to content
fields with JMESPath (``map``: field -> expression); text and HTML become the body.

Conditions: ``when`` (``{jmespath, op, value}`` over the fetched JSON) and ``skipIfUnchanged`` (the
content hash, over every field but id and version, equal to the last delivered run's).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from adapters import DeliveryError
from server.errors import ValidationFailed
from server.runtime import Runtime
from server.schedules.schemas import MAPPABLE, ConditionOp, ContentFormat

FETCH_ATTEMPTS = 3  # a failed fetch is tried this many times in all ...
FETCH_BACKOFF_SECONDS = (30.0, 120.0)  # ... after these delays (while within the catch-up window)


class FetchFailed(Exception):
    """The content source did not answer with a usable page (the message says why)."""


def check_source(source: dict[str, Any], when: dict[str, Any] | None) -> None:
    """Refuse unknown map fields, bad JMESPath and a ``when`` that has no JSON to read (field named)."""
    for name, expression in source.get("map", {}).items():
        if name not in MAPPABLE:
            raise ValidationFailed(
                f"contentSource.map cannot set {name!r}; map any of {', '.join(MAPPABLE)}.", field="contentSource.map"
            )
        compile_expression(expression, f"contentSource.map.{name}")
    if when is not None and source.get("format", ContentFormat.JSON) != ContentFormat.JSON:
        raise ValidationFailed("when reads JSON: set contentSource.format to json.", field="when")


def compile_expression(expression: str, field: str) -> Any:
    try:
        return jmespath.compile(expression)
    except JMESPathError as exc:
        message = f"{field}: {expression!r} is not a valid JMESPath expression ({exc})."
        raise ValidationFailed(message, field=field) from None


def fetch(rt: Runtime, source: dict[str, Any]) -> tuple[str, Any]:
    """GET the source; returns (text, parsed JSON or None). Raises FetchFailed."""
    headers = {"Accept": "application/json" if source.get("format", "json") == "json" else "text/html, text/plain"}
    headers.update(source.get("headers") or {})
    try:
        answer = rt.delivery_loop.run(
            lambda io: io.http.exchange("GET", source["url"], headers=headers, content=b"", allow_redirects=True)
        )
    except DeliveryError as exc:
        raise FetchFailed(f"content fetch failed: {exc.message}") from None
    if not 200 <= answer.status_code < 300:
        raise FetchFailed(f"content fetch failed: HTTP {answer.status_code} from {source['url']}")
    if source.get("format", "json") != ContentFormat.JSON:
        return answer.text, None
    try:
        return answer.text, json.loads(answer.text)
    except ValueError:
        raise FetchFailed(f"content fetch failed: {source['url']} did not answer JSON") from None


def build(
    template: dict[str, Any] | None,
    source: dict[str, Any] | None,
    text: str | None,
    document: Any,
    *,
    schedule_name: str,
    nominal: datetime,
) -> dict[str, Any]:
    """The run's content (wire form): the template's, with the fetched fields over it; a version per run
    unless the map names one (then an unchanged version is skipped by the plan's duplicate guard)."""
    content: dict[str, Any] = dict(template or {})
    content.setdefault("id", schedule_name[:200])
    base_version = content.get("version") or "run"
    content["version"] = f"{base_version}+{nominal:%Y%m%dT%H%M%SZ}"[:100]
    if source is not None and source.get("format", "json") == ContentFormat.JSON:
        for name, expression in (source.get("map") or {}).items():
            value = jmespath.search(expression, document)
            if value is None:
                continue
            if name == "metadata":
                content["metadata"] = value if isinstance(value, dict) else {"value": value}
            else:
                content[name] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    elif source is not None:
        content["body"] = text or ""
        content["metadata"] = {**content.get("metadata", {}), "contentType": str(source.get("format"))}
    content.setdefault("title", schedule_name[:500])
    content.setdefault("body", "")
    return content


def content_digest(content: dict[str, Any]) -> str:
    """The hash skipIfUnchanged compares: every field but id and version."""
    relevant = {key: value for key, value in content.items() if key not in ("id", "version")}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def when_holds(condition: dict[str, Any], document: Any) -> tuple[bool, Any]:
    """Whether ``when`` holds over the fetched JSON, and the value its expression found."""
    found = jmespath.search(condition["jmespath"], document)
    op, value = ConditionOp(condition["op"]), condition.get("value")
    if op == ConditionOp.EXISTS:
        return found is not None, found
    if op == ConditionOp.EQ:
        return found == value, found
    if op == ConditionOp.NE:
        return found != value, found
    if op == ConditionOp.CONTAINS:
        try:
            return value in found, found
        except TypeError:
            return False, found
    try:
        if op == ConditionOp.GT:
            return found > value, found
        if op == ConditionOp.GTE:
            return found >= value, found
        if op == ConditionOp.LT:
            return found < value, found
        return found <= value, found
    except TypeError:
        return False, found  # not comparable (missing, or another type): the condition does not hold
