"""Personalised content: a plan's content fields are sandboxed Jinja2 templates over ``content``,
``recipient`` and ``target``; a job's content is the plan's, then its variation, then its recipient's
override, then the templates rendered.

The same function builds a dry run's preview and a delivery's content, so what a dry run shows is
what is sent. Plain text fields (no ``{{``, ``{%`` or ``{#``) skip Jinja altogether. A recipient's own
content (``recipientContent``) is sent verbatim, never interpreted: it is already that person's (the
advisor's pre-approved text must arrive exactly as approved), and 10,000 distinct templates would cost
a compile each.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from adapters import Attachment, Content, RecipientView

TEMPLATE_FIELDS = ("title", "body", "excerpt", "url")
_MARKS = ("{{", "{%", "{#")

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


class TemplateFailure(Exception):
    """A field's template does not compile or render: ``field`` names it on the wire (``content.body``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def is_template(text: str | None) -> bool:
    return text is not None and any(mark in text for mark in _MARKS)


@lru_cache(maxsize=2048)
def _compiled(source: str) -> Any:
    return _env.from_string(source)


def compile_check(source: str | None, field: str) -> None:
    """Raise TemplateFailure when ``source`` is not a valid template."""
    if not is_template(source):
        return
    try:
        _compiled(source)
    except TemplateSyntaxError as exc:
        raise TemplateFailure(field, f"template syntax error on line {exc.lineno}: {exc.message}") from None


VERBATIM = "verbatim"


def _render(source: str | None, field: str, context: dict[str, Any]) -> str | None:
    if source is None or field.startswith(VERBATIM) or not is_template(source):
        return source
    try:
        return str(_compiled(source).render(context))
    except TemplateSyntaxError as exc:
        raise TemplateFailure(field, f"template syntax error on line {exc.lineno}: {exc.message}") from None
    except TemplateError as exc:
        raise TemplateFailure(field, f"template error: {exc.message or exc}") from None
    except Exception as exc:  # a sandboxed expression may still divide by zero, index past an end, …
        raise TemplateFailure(field, f"template error: {type(exc).__name__}: {exc}") from None


def recipient_context(view: RecipientView | None) -> dict[str, Any] | None:
    if view is None:
        return None
    return {
        "id": view.id,
        "externalId": view.external_id,
        "external_id": view.external_id,
        "name": view.name,
        "address": view.address,
        "timezone": view.timezone,
        "attributes": view.attributes,
        "labels": list(view.labels),
    }


def build_content(
    base: dict[str, Any],
    *,
    target: dict[str, Any],
    recipient: RecipientView | None = None,
    variation: int | None = None,
    override: dict[str, Any] | None = None,
    attachments: tuple[Attachment, ...] = (),
    prefix: str = "content",
) -> Content:
    """The content one job sends. ``base`` is the plan's stored content (snake_case keys)."""
    fields: dict[str, Any] = {name: base.get(name) for name in (*TEMPLATE_FIELDS, "media_urls")}
    variables = dict(base.get("variables") or {})
    metadata = dict(base.get("metadata") or {})
    sources = {name: prefix for name in fields}
    variations = base.get("variations") or []
    if variation is not None and variations:
        chosen = variations[variation % len(variations)]
        for name, value in chosen.items():
            if value is not None and name in fields:
                fields[name] = value
                sources[name] = f"{prefix}.variations[{variation % len(variations)}]"
    if override:
        for name, value in override.items():
            if value is None or name.startswith("_"):
                continue
            if name in fields:
                fields[name] = value
                sources[name] = VERBATIM
            elif name == "variables":
                variables.update(value)
            elif name == "metadata":
                metadata.update(value)
    context = {
        "content": {
            "id": base["id"],
            "version": base["version"],
            "title": base.get("title"),
            "body": base.get("body"),
            "excerpt": base.get("excerpt"),
            "url": base.get("url"),
            "metadata": metadata,
            "variables": variables,
        },
        "recipient": recipient_context(recipient),
        "target": target,
    }
    rendered = {name: _render(fields[name], f"{sources[name]}.{name}", context) for name in TEMPLATE_FIELDS}
    media = tuple(
        _render(url, f"{sources['media_urls']}.mediaUrls[{i}]", context) or ""
        for i, url in enumerate(fields["media_urls"] or ())
    )
    return Content(
        id=base["id"],
        version=base["version"],
        title=rendered["title"] or "",
        body=rendered["body"] or "",
        excerpt=rendered["excerpt"],
        url=rendered["url"],
        metadata=metadata,
        media_urls=media,
        attachments=attachments,
    )


def is_templated(source: dict[str, Any]) -> bool:
    """Whether one source (the content, or one variation) has a template field or media URL."""
    return any(is_template(source.get(name)) for name in TEMPLATE_FIELDS) or any(
        is_template(url) for url in source.get("media_urls") or ()
    )


def has_templates(content: dict[str, Any]) -> bool:
    """Whether any field the plan carries (content, variations) is a template: without one, every job's
    content renders as stored (a recipient's override is verbatim), so no render can fail."""
    return any(is_templated(source) for source in [content, *(content.get("variations") or ())])


def check_sources(content: dict[str, Any]) -> None:
    """Compile every template the plan carries (content, variations): a syntax error anywhere is refused
    at create, not found at the 9,000th delivery."""
    for name in TEMPLATE_FIELDS:
        compile_check(content.get(name), f"content.{name}")
    for i, url in enumerate(content.get("media_urls") or ()):
        compile_check(url, f"content.mediaUrls[{i}]")
    for i, variation in enumerate(content.get("variations") or ()):
        for name in TEMPLATE_FIELDS:
            compile_check(variation.get(name), f"content.variations[{i}].{name}")
