"""Rendering content for channels: policy (excerpt, length) and the standard event envelope."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from adapters.base import ConfigError, Content, DeliveryOutcome, Policy, Receipt

EXCERPT_CHARS = 280
ELLIPSIS = "…"


class ChannelModel(BaseModel):
    """Config and credentials models: camelCase keys as users write them, unknown keys refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def validate_model(model: type[BaseModel], data: dict[str, Any] | None, prefix: str) -> BaseModel:
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        field = f"{prefix}.{where}" if where else prefix
        raise ConfigError(f"{field}: {first['msg']}.", field=field) from None


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + ELLIPSIS


def apply_policy(content: Content, policy: Policy) -> str:
    body = content.body
    if policy.excerpt_only:
        body = content.excerpt or _truncate(content.body, EXCERPT_CHARS)
    if policy.max_length is not None:
        body = _truncate(body, policy.max_length)
    return body


def content_fields(content: Content, policy: Policy) -> dict[str, Any]:
    return {
        "id": content.id,
        "version": content.version,
        "title": content.title,
        "body": apply_policy(content, policy),
        "excerpt": content.excerpt,
        "url": content.url,
        "metadata": content.metadata,
    }


def envelope(content: Content, policy: Policy) -> dict[str, Any]:
    return {"type": "content.published", "data": content_fields(content, policy)}


def json_bytes(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def http_receipt(outcome: DeliveryOutcome) -> Receipt:
    """Receipt of an HTTP delivery: the receiver's message id when it names one."""
    external = outcome.external_id or outcome.headers.get("x-message-id") or outcome.headers.get("x-request-id")
    if external is None and outcome.body_excerpt:
        try:
            body = json.loads(outcome.body_excerpt)
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("id"), str | int):
            external = str(body["id"])
    return Receipt(external_id=external, meta={"statusCode": outcome.status_code})
