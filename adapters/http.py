"""Partner HTTP push: method, URL, headers, an optional body template, and bearer, basic or header auth."""

from __future__ import annotations

import base64
import re
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from adapters.base import (
    Addressing,
    ChannelIO,
    ChannelLimits,
    ChannelName,
    ChannelPayload,
    ConfigError,
    Content,
    DeliveryContext,
    Endpoint,
    Policy,
    Receipt,
    RecipientView,
    TargetView,
    Validated,
)
from adapters.http_client.headers import RESERVED, check_headers, merge_headers
from adapters.render import (
    ChannelModel,
    checked_url,
    content_fields,
    envelope,
    http_receipt,
    json_bytes,
    validate_model,
)
from adapters.templates import check_template, render_template

HTTP_RESERVED = RESERVED | {"idempotency-key"}
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+([ \t]*;[\x20-\x7e]*)?")
_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/=-]+")
_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]*")
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


class HttpConfig(ChannelModel):
    url: str
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body_template: dict[str, Any] | list[Any] | str | None = None
    content_type: str | None = None
    allow_redirects: bool = False

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return checked_url(value)

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return check_headers(value, HTTP_RESERVED)

    @field_validator("body_template")
    @classmethod
    def _template(cls, value: Any) -> Any:
        return check_template(value)

    @field_validator("content_type")
    @classmethod
    def _content_type(cls, value: str | None) -> str | None:
        if value is not None and not _MEDIA_TYPE.fullmatch(value):
            raise ValueError("must be a media type such as application/json or text/plain; charset=utf-8")
        return value


class HttpCredentials(ChannelModel):
    bearer_token: str | None = None
    username: str | None = None
    password: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("bearer_token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is not None and not _TOKEN68.fullmatch(value):
            raise ValueError("must be a non-empty token of letters, digits and -._~+/= (without the 'Bearer ' prefix)")
        return value

    @field_validator("username", "password")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and not _PRINTABLE.fullmatch(value):
            raise ValueError("must not contain control characters")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return check_headers(value, HTTP_RESERVED)

    @model_validator(mode="after")
    def _one_scheme(self) -> HttpCredentials:
        if (self.username is None) != (self.password is None):
            raise ValueError("basic auth needs both username and password")
        if self.username is not None and ":" in self.username:
            raise ValueError("a basic-auth username cannot contain ':'")
        if self.bearer_token is not None and self.username is not None:
            raise ValueError("give either bearerToken or username/password, not both")
        if (self.bearer_token is not None or self.username is not None) and "authorization" in map(
            str.lower, self.headers
        ):
            raise ValueError("an Authorization header cannot be combined with bearerToken or username/password")
        return self

    def auth_headers(self) -> dict[str, str]:
        if self.bearer_token is not None:
            return {**self.headers, "Authorization": f"Bearer {self.bearer_token}"}
        if self.username is not None:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return {**self.headers, "Authorization": f"Basic {token}"}
        return dict(self.headers)


def _checked_credentials(config: HttpConfig, credentials: dict[str, Any] | None) -> HttpCredentials | None:
    if not credentials:
        return None
    validated = validate_model(HttpCredentials, credentials, "credentials")
    clash = {name.lower() for name in config.headers} & {name.lower() for name in validated.headers}
    if clash:
        raise ConfigError(
            f"credentials.headers: {', '.join(sorted(clash))} is also in config.headers; "
            "keep each header in one place.",
            field="credentials.headers",
        )
    return validated


Target = TargetView[HttpConfig, HttpCredentials]


class HttpChannel:
    name: ClassVar[ChannelName] = ChannelName.HTTP
    addressing: ClassVar[Addressing] = "broadcast"
    description: ClassVar[str] = (
        "Partner HTTP push (POST, PUT or PATCH) with an optional body template and bearer, basic or header auth."
    )
    config_model = HttpConfig
    credentials_model: type[HttpCredentials] | None = HttpCredentials
    limits = ChannelLimits()

    def validate(
        self, config: dict[str, Any], credentials: dict[str, Any] | None
    ) -> Validated[HttpConfig, HttpCredentials]:
        validated = validate_model(HttpConfig, config, "config")
        checked = _checked_credentials(validated, credentials)
        return Validated(validated, checked, endpoints=(Endpoint(validated.url),))

    def render(
        self, content: Content, policy: Policy, target: Target, recipient: RecipientView | None = None
    ) -> ChannelPayload:
        config = target.config
        if config.body_template is None:
            return ChannelPayload(body=envelope(content, policy), content_type=config.content_type or JSON)
        body = render_template(config.body_template, content_fields(content, policy))
        return ChannelPayload(body=body, content_type=config.content_type or (TEXT if isinstance(body, str) else JSON))

    async def send(self, payload: ChannelPayload, target: Target, delivery: DeliveryContext, io: ChannelIO) -> Receipt:
        """The partner request: configured method and headers, credentials' auth, an idempotency key per delivery."""
        config, credentials = target.config, target.credentials
        body = payload.body.encode() if isinstance(payload.body, str) else json_bytes(payload.body)
        own = {"Content-Type": payload.content_type, "Idempotency-Key": delivery.delivery_id}
        headers = merge_headers(config.headers, credentials.auth_headers() if credentials else {}, own)
        response = await io.http.send(
            config.method, config.url, headers=headers, content=body, allow_redirects=config.allow_redirects
        )
        return http_receipt(response)
