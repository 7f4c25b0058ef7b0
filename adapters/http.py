"""Partner HTTP push: method, URL, headers, a body template, and bearer, basic or header auth."""

from __future__ import annotations

import base64
import json
import re
from typing import Any, ClassVar, Literal

from pydantic import field_validator, model_validator

from adapters.base import (
    ChannelName,
    ChannelPayload,
    ConfigError,
    Content,
    DeliveryContext,
    DeliveryOutcome,
    OutboundClient,
    Policy,
    Receipt,
    TargetView,
    ValidatedTarget,
)
from adapters.render import ChannelModel, content_fields, envelope, http_receipt, json_bytes, validate_model
from adapters.webhook import check_headers

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")
FIELDS = ("id", "version", "title", "body", "excerpt", "url")


class HttpConfig(ChannelModel):
    url: str
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    headers: dict[str, str] = {}
    body_template: dict[str, Any] | list[Any] | str | None = None
    content_type: str | None = None
    allow_redirects: bool = False

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return check_headers(value)

    @field_validator("body_template")
    @classmethod
    def _placeholders(cls, value: Any) -> Any:
        for name in _placeholders_in(value):
            if name not in FIELDS and not name.startswith("metadata."):
                raise ValueError(f"unknown placeholder {{{{{name}}}}}; use one of {', '.join(FIELDS)} or metadata.<key>")
        return value


class HttpCredentials(ChannelModel):
    bearer_token: str | None = None
    username: str | None = None
    password: str | None = None
    headers: dict[str, str] = {}

    @model_validator(mode="after")
    def _one_scheme(self) -> HttpCredentials:
        if (self.username is None) != (self.password is None):
            raise ValueError("basic auth needs both username and password")
        if self.bearer_token and self.username:
            raise ValueError("give either bearerToken or username/password, not both")
        return self

    def auth_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.bearer_token:
            headers["Authorization"] = f"Bearer {self.bearer_token}"
        elif self.username is not None:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return headers


def _placeholders_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return _PLACEHOLDER.findall(value)
    if isinstance(value, dict):
        return [name for item in value.values() for name in _placeholders_in(item)]
    if isinstance(value, list):
        return [name for item in value for name in _placeholders_in(item)]
    return []


def render_template(template: Any, values: dict[str, Any]) -> Any:
    """Fill ``{{name}}`` placeholders in every string leaf of a JSON template (or a string template)."""
    if isinstance(template, str):
        return _PLACEHOLDER.sub(lambda m: _value(values, m.group(1)), template)
    if isinstance(template, dict):
        return {key: render_template(item, values) for key, item in template.items()}
    if isinstance(template, list):
        return [render_template(item, values) for item in template]
    return template


def _value(values: dict[str, Any], name: str) -> str:
    if name.startswith("metadata."):
        found = values["metadata"].get(name.split(".", 1)[1])
    else:
        found = values.get(name)
    if found is None:
        return ""
    return found if isinstance(found, str) else json.dumps(found)


class HttpAdapter:
    channel: ClassVar[ChannelName] = ChannelName.HTTP
    config_model: ClassVar[type[ChannelModel]] = HttpConfig
    credentials_model: ClassVar[type[ChannelModel] | None] = HttpCredentials
    description: ClassVar[str] = "Partner HTTP push with a body template and bearer, basic or header auth."

    def validate_config(self, config: dict[str, Any], credentials: dict[str, Any] | None) -> ValidatedTarget:
        validated = validate_model(HttpConfig, config, "config")
        creds = validate_model(HttpCredentials, credentials, "credentials") if credentials else None
        clash = set(map(str.lower, validated.headers)) & set(map(str.lower, creds.headers if creds else {}))  # type: ignore[attr-defined]
        if clash:
            raise ConfigError(f"Header(s) {sorted(clash)} are set in both config and credentials.", field="credentials.headers")
        return ValidatedTarget(validated, creds)

    def destination(self, config: HttpConfig) -> str | None:  # type: ignore[override]
        return config.url

    def transform(self, content: Content, policy: Policy, target: TargetView) -> ChannelPayload:
        config: HttpConfig = target.config  # type: ignore[assignment]
        if config.body_template is None:
            return ChannelPayload(body=envelope(content, policy), content_type=config.content_type or "application/json")
        body = render_template(config.body_template, content_fields(content, policy))
        default_type = "text/plain; charset=utf-8" if isinstance(body, str) else "application/json"
        return ChannelPayload(body=body, content_type=config.content_type or default_type)

    def deliver(
        self, payload: ChannelPayload, target: TargetView, client: OutboundClient, delivery: DeliveryContext
    ) -> DeliveryOutcome:
        config: HttpConfig = target.config  # type: ignore[assignment]
        credentials: HttpCredentials | None = target.credentials  # type: ignore[assignment]
        body = payload.body.encode() if isinstance(payload.body, str) else json_bytes(payload.body)
        headers = {
            **config.headers,
            **(credentials.auth_headers() if credentials else {}),
            "Content-Type": payload.content_type,
            "Idempotency-Key": delivery.delivery_id,
        }
        return client.send(config.method, config.url, headers=headers, content=body, allow_redirects=config.allow_redirects)

    def normalize_receipt(self, outcome: DeliveryOutcome, delivery: DeliveryContext) -> Receipt:
        return http_receipt(outcome)
