"""What the HTTP-speaking channels share: model validation, content policy, the event envelope, receipts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

from adapters.base import ConfigError, Content, Endpoint, Policy, Receipt, Validated
from adapters.http_client.netguard import split_url
from adapters.io import HttpResponse

EXCERPT_CHARS = 280
ELLIPSIS = "…"
EVENT_TYPE = "content.published"
RECEIPT_ID_HEADERS = ("x-message-id", "x-request-id")

M = TypeVar("M", bound=BaseModel)
S = TypeVar("S", bound=BaseModel)


class ChannelModel(BaseModel):
    """Config and credentials models: camelCase keys as users write them, unknown keys refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def validate_model(model: type[M], data: dict[str, Any] | None, prefix: str) -> M:
    """Validate ``data``; a failure becomes a ConfigError naming the field (``config.url``) and the fix."""
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        fields = [_field(prefix, error) for error in errors]
        message = " ".join(f"{field}: {_describe(error, model)}" for field, error in zip(fields, errors, strict=True))
        raise ConfigError(message, field=fields[0]) from None


def validate_provider(
    config_model: type[M], credentials_model: type[S], config: dict[str, Any], credentials: dict[str, Any] | None
) -> Validated[M, S]:
    """A provider channel's config and credentials, each naming its bad field; the SSRF guard checks the
    config's ``api_base_url`` (every provider model has one: the provider's API, or a proxy or fake)."""
    checked = validate_model(config_model, config, "config")
    secrets = validate_model(credentials_model, credentials, "credentials")
    base_url: str = cast(Any, checked).api_base_url
    return Validated(checked, secrets, endpoints=(Endpoint(base_url, "config.apiBaseUrl"),))


def checked_url(url: str) -> str:
    """An http(s) URL without surrounding blanks, or a ValueError saying what to fix (no DNS lookup)."""
    try:
        split_url(url)
    except ConfigError as exc:
        raise ValueError(exc.message.rstrip(".")) from None
    return url.strip()


def _field(prefix: str, error: ErrorDetails) -> str:
    return ".".join([prefix, *(str(part) for part in error["loc"])])


def _describe(error: ErrorDetails, model: type[BaseModel]) -> str:
    if error["type"] == "missing":
        return "this field is required."
    if error["type"] == "extra_forbidden":
        known = ", ".join(field.alias or name for name, field in model.model_fields.items())
        return f"unknown field; the fields are {known}."
    if error["type"] == "value_error":
        return f"{error.get('ctx', {}).get('error', error['msg'])}."
    return f"{error['msg']}."


def truncate(text: str, limit: int, mode: str = "ellipsis") -> str:
    """At most ``limit`` characters: ``hard`` cuts, ``ellipsis`` ends in "…", ``word`` also avoids cutting a word."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    if mode == "hard":
        return text[:limit]
    cut = text[: limit - 1]
    if mode == "word" and " " in cut:
        cut = cut[: cut.rstrip().rfind(" ")].rstrip()
    return cut + ELLIPSIS


def apply_policy(content: Content, policy: Policy) -> str:
    body = content.body
    if policy.excerpt_only:
        fallback = body if len(body) <= EXCERPT_CHARS else body[:EXCERPT_CHARS] + ELLIPSIS
        body = content.excerpt or fallback
    suffix = f"\n\n— {policy.attribution}" if policy.attribution and policy.attribution not in body else ""
    if policy.max_length is not None:
        body = truncate(body, policy.max_length - len(suffix), policy.truncate)
    return body + suffix


def content_fields(content: Content, policy: Policy) -> dict[str, Any]:
    return {
        "id": content.id,
        "version": content.version,
        "title": content.title,
        "body": apply_policy(content, policy),
        "excerpt": content.excerpt,
        "url": content.url,
        "metadata": dict(content.metadata),
    }


def envelope(content: Content, policy: Policy) -> dict[str, Any]:
    """The Standard-Webhooks-style event, without a timestamp so that render stays pure."""
    return {"type": EVENT_TYPE, "data": content_fields(content, policy)}


def json_bytes(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def unix_seconds(moment: datetime) -> int:
    """Seconds since the epoch; a naive datetime is taken as UTC, never as local time."""
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def http_receipt(response: HttpResponse) -> Receipt:
    """Receipt of an HTTP delivery: the receiver's message id when it names one, and the status code."""
    external = next(filter(None, map(response.headers.get, RECEIPT_ID_HEADERS)), None)
    return Receipt(external_id=external or _body_id(response.body_excerpt), meta={"statusCode": response.status_code})


def _body_id(excerpt: str | None) -> str | None:
    try:
        body = json.loads(excerpt or "")
    except ValueError:
        return None
    found = body.get("id") if isinstance(body, dict) else None
    return str(found) if isinstance(found, str | int) and not isinstance(found, bool) and found != "" else None
