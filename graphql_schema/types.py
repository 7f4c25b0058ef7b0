"""Strawberry types generated from the wire models, so GraphQL cannot drift from MCP.

Output types drop an ``Input`` or ``Read`` suffix (``TargetRead`` is ``Target``, ``ContentInput`` read back is
``Content``); input types
get one (``RetryPolicy`` as an argument is ``RetryPolicyInput``). Free-form JSON is ``JSON``. Resource ids
(``server.wire.Id``) are ``ID``. Enums (job and plan status, error class, channel) are GraphQL enums whose
values are the members' names (``DELIVERED``); MCP keeps their wire values (``delivered``).
"""

from __future__ import annotations

import types
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from operator import attrgetter
from typing import Annotated, Any, Literal, Optional, Union, get_args, get_origin

import strawberry
from pydantic import BaseModel
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python
from strawberry.scalars import JSON

from server.wire import Identifier

_SCALARS = (str, int, float, bool, datetime)
_outputs: dict[type[BaseModel], type] = {}
_inputs: dict[type[BaseModel], type] = {}
_enums: dict[type[Enum], Any] = {}


def field_type(field: FieldInfo, is_input: bool) -> Any:
    """The GraphQL type of a model field (its ``Annotated`` markers included, e.g. ``Id``)."""
    return graphql_type(field.rebuild_annotation(), is_input)


def graphql_type(annotation: Any, is_input: bool) -> Any:
    if annotation in _SCALARS:
        return annotation
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        if any(isinstance(marker, Identifier) for marker in annotation.__metadata__):
            return strawberry.ID
        return graphql_type(args[0], is_input)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return enum_type(annotation)
    if origin in (Union, types.UnionType):
        present = [arg for arg in args if arg is not type(None)]
        inner = graphql_type(present[0], is_input) if len(present) == 1 else JSON
        return Optional[inner]  # noqa: UP045 (strawberry needs the typing form here)
    if origin is list and args:
        item: Any = graphql_type(args[0], is_input)
        return list[item]
    if origin is Literal:
        return str
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return input_type(annotation) if is_input else output_type(annotation)
    return JSON


def enum_type(enum: type[Enum]) -> Any:
    if enum not in _enums:
        _enums[enum] = strawberry.enum(enum)
    return _enums[enum]


def enum_in(annotation: Any) -> type[Enum] | None:
    """The enum a field holds (alone, optional or in a list), if any."""
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return annotation
    return next((found for arg in get_args(annotation) if (found := enum_in(arg)) is not None), None)


def output_type(model: type[BaseModel]) -> type:
    if model not in _outputs:
        _outputs[model] = _build(model, model.__name__.removesuffix("Input").removesuffix("Read"), is_input=False)
    return _outputs[model]


def input_type(model: type[BaseModel]) -> type:
    if model not in _inputs:
        name = model.__name__ if model.__name__.endswith("Input") else model.__name__ + "Input"
        _inputs[model] = _build(model, name, is_input=True)
    return _inputs[model]


def _build(model: type[BaseModel], name: str, is_input: bool) -> type:
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {}
    for field_name, field in model.model_fields.items():
        annotation = field_type(field, is_input)
        if is_input and not field.is_required():
            annotation = Optional[annotation]  # noqa: UP045
            namespace[field_name] = strawberry.field(description=field.description, default=strawberry.UNSET)
        else:
            namespace[field_name] = strawberry.field(description=field.description)
        annotations[field_name] = annotation
    cls = type(name, (), {"__annotations__": annotations, "__module__": __name__, **namespace})
    decorate = strawberry.input if is_input else strawberry.type
    return decorate(cls, name=name, description=(model.__doc__ or "").strip() or None)


def to_graphql(value: Any) -> Any:
    """A wire model instance → its strawberry object (JSON fields stay plain JSON)."""
    if isinstance(value, BaseModel):
        cls = output_type(type(value))
        fields = type(value).model_fields
        return cls(**{name: _field_value(getattr(value, name), fields[name].annotation) for name in fields})
    return value


def _field_value(value: Any, annotation: Any) -> Any:
    if isinstance(value, BaseModel):
        return to_graphql(value)
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        return [to_graphql(item) for item in value]
    if graphql_type(annotation, is_input=False) in (JSON, Optional[JSON]):  # noqa: UP045
        return to_jsonable_python(value)
    return value


def to_plain(value: Any) -> Any:
    """A strawberry input value → plain Python with wire (camelCase) keys, UNSET fields dropped."""
    if isinstance(value, Enum):
        return value  # a wire enum member: its value is what MCP sends
    if hasattr(value, "__strawberry_definition__"):
        return {to_camel(k): to_plain(v) for k, v in vars(value).items() if v is not strawberry.UNSET}
    if isinstance(value, list):
        return [to_plain(item) for item in value]
    return value


def graphql_values(
    model: type[BaseModel], arguments: dict[str, Any], name: Callable[[Enum], Any] = attrgetter("name")
) -> dict[str, Any]:
    """Wire (MCP) argument values → the values the same GraphQL call takes: enum members by ``name``."""
    fields = {field.alias or key: field for key, field in model.model_fields.items()}
    return {
        key: _graphql_value(fields[key].annotation, value, name) if key in fields else value
        for key, value in arguments.items()
    }


def _graphql_value(annotation: Any, value: Any, name: Callable[[Enum], Any]) -> Any:
    if isinstance(value, list):
        return [_graphql_value(annotation, item, name) for item in value]
    enum = enum_in(annotation)
    if enum is not None and isinstance(value, str):
        return name(enum(value)) if value in enum._value2member_map_ else value
    nested = _model_in(annotation)
    if nested is not None and isinstance(value, dict):
        return graphql_values(nested, value, name)
    return value


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((found for arg in get_args(annotation) if (found := _model_in(arg)) is not None), None)
