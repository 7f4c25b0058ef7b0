"""JSON columns load exactly as the standard library reads them, through orjson where it agrees."""

from __future__ import annotations

import json

import pytest

from server.db import json_loads

CASES = [
    '{"a": 1, "b": [true, null, "x"], "c": {"d": 1.5}}',
    "[123456789012345678901234567890]",  # beyond 64 bits: orjson alone would give a float
    "[-9223372036854775809, 18446744073709551616]",
    '{"n": NaN, "i": Infinity}',  # json.dumps writes these; orjson refuses them
    '{"s": "\\ud800", "e": "\\u00e9"}',
    '{"f": 0.1234567890123456789}',
    "[]",
    "{}",
    "null",
]


@pytest.mark.parametrize("text", CASES)
def test_json_columns_load_as_the_standard_library_reads_them(text: str) -> None:
    expected = json.loads(text)
    for given in (text, text.encode(), memoryview(text.encode())):
        loaded = json_loads(given)
        assert json.dumps(loaded) == json.dumps(expected)  # NaN != NaN, so compare the dumps
        assert type(loaded) is type(expected)


def test_an_invalid_document_still_raises() -> None:
    with pytest.raises(json.JSONDecodeError):
        json_loads('{"a": ')
