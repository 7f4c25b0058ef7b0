"""`python -m graphql_schema.export`: write the SDL (the public contract) to schema.graphql."""

from pathlib import Path

from graphql_schema.schema import schema

SCHEMA_FILE = Path(__file__).with_name("schema.graphql")


def sdl() -> str:
    return schema.as_str() + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.write_text(sdl())
    print(f"wrote {SCHEMA_FILE}")
