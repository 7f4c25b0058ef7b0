"""Body templates of the http channel: JSON whose string leaves hold ``{{placeholders}}``, or plain text.

A JSON string leaf that is exactly one placeholder takes the value with its JSON type (a metadata
number stays a number, a missing excerpt becomes null); placeholders inside longer strings, and in a
text template, are rendered as text (null as an empty string).
"""

from __future__ import annotations

import json
import re
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s]*)\s*\}\}")
FIELDS = ("id", "version", "title", "body", "excerpt", "url", "metadata")
MAX_TEMPLATE_CHARS = 64 * 1024


def placeholders(template: Any) -> list[str]:
    if isinstance(template, str):
        return PLACEHOLDER.findall(template)
    if isinstance(template, dict):
        return [name for item in template.values() for name in placeholders(item)]
    if isinstance(template, list):
        return [name for item in template for name in placeholders(item)]
    return []


def _known(name: str) -> bool:
    root, dot, key = name.partition(".")
    return root in FIELDS and (not dot or (root == "metadata" and all(key.split("."))))


def check_template(template: Any) -> Any:
    """The template, or a ValueError naming the first unknown placeholder."""
    if len(json.dumps(template)) > MAX_TEMPLATE_CHARS:
        raise ValueError(f"the template is longer than {MAX_TEMPLATE_CHARS} characters")
    for name in placeholders(template):
        if not _known(name):
            known = ", ".join("{{" + field + "}}" for field in FIELDS)
            raise ValueError(f"unknown placeholder {{{{{name}}}}}; use one of {known} or {{{{metadata.<key>}}}}")
    return template


def lookup(values: dict[str, Any], name: str) -> Any:
    found: Any = values
    for part in name.split("."):
        found = found.get(part) if isinstance(found, dict) else None
    return found


def render_text(text: str, values: dict[str, Any]) -> str:
    return PLACEHOLDER.sub(lambda match: _as_text(lookup(values, match.group(1))), text)


def render_template(template: Any, values: dict[str, Any]) -> Any:
    """A text template renders to text; a JSON template to JSON of the same shape."""
    return render_text(template, values) if isinstance(template, str) else _render_json(template, values)


def _render_json(node: Any, values: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        return {key: _render_json(item, values) for key, item in node.items()}
    if isinstance(node, list):
        return [_render_json(item, values) for item in node]
    if isinstance(node, str):
        whole = PLACEHOLDER.fullmatch(node)
        return lookup(values, whole.group(1)) if whole else render_text(node, values)
    return node


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
