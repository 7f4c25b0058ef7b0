"""Base of every data model on the wire: snake_case in Python, camelCase on both doors."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Identifier:
    """Marks a string as the id of a Herald resource: the ``ID`` scalar on GraphQL, a string on MCP."""

    def __repr__(self) -> str:
        return "Identifier()"


Id = Annotated[str, Identifier()]


def _without_field_titles(schema: dict[str, Any]) -> None:
    """Field titles would only repeat the camelCase name badly (``Awaitdelivery``); descriptions say more."""
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)


class WireModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", json_schema_extra=_without_field_titles
    )

    def wire(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)
