"""Strict JSON request bodies (RFC 8259 as a client must send it), shared by the GraphQL and REST doors."""

from __future__ import annotations

import json
import sys
from typing import Any


class MalformedJson(ValueError):
    """The body is not a UTF-8 JSON object; the message says what to fix."""


def _refuse_constant(what: str, name: str) -> Any:
    raise MalformedJson(f"{what} is not valid JSON: {name} is not a JSON number; send finite numbers.")


def parse_object(data: str | bytes, example: str, note: str = "") -> dict[str, Any]:
    """UTF-8, finite numbers, an object at the top (``example`` shows one in the refusal).

    ``data`` is a request body (bytes) or JSON found in a query string (text)."""
    what = "The request body" if isinstance(data, bytes) else "The JSON in the query string"
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedJson(
                f"{what} is not UTF-8 (invalid byte at position {exc.start}); send JSON encoded as UTF-8."
            ) from None
    if data.startswith("\ufeff"):
        raise MalformedJson(f"{what} starts with a byte order mark; send JSON encoded as UTF-8 without it.")
    try:
        parsed = json.loads(data, parse_constant=lambda name: _refuse_constant(what, name))
    except json.JSONDecodeError as exc:
        raise MalformedJson(f"{what} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}).") from None
    except RecursionError:
        raise MalformedJson(f"{what} is nested too deeply; send at most a few dozen levels.") from None
    except MalformedJson:
        raise
    except ValueError:  # an integer with more digits than Python converts (sys.get_int_max_str_digits)
        raise MalformedJson(f"{what} has a number with more than {sys.get_int_max_str_digits()} digits.") from None
    if not isinstance(parsed, dict):
        raise MalformedJson(f"{what} must be a JSON object such as {example}, not {_json_kind(parsed)}{note}.")
    return parsed


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", str: "a string", int: "a number", float: "a number", list: "an array"}[type(value)]
