"""`python -m rest_api.export`: write the OpenAPI document (the public contract) to openapi.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rest_api.openapi import document

OPENAPI_FILE = Path(__file__).with_name("openapi.json")


def render(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    OPENAPI_FILE.write_text(render(document()))
    print(f"wrote {OPENAPI_FILE}")


if __name__ == "__main__":
    main()
