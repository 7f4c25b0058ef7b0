"""Query and Mutation built from ``server.operations``: one field per operation, same arguments; the
planProgress subscription (``graphql_schema.subscription``).

Each field returns ``<Name>Result = <Payload> | OperationError``: expected errors are data.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Annotated, Any, Optional, Union

import strawberry
from graphql import GraphQLError
from pydantic.alias_generators import to_camel
from strawberry.extensions import MaskErrors, MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.types import Info
from strawberry.types.base import get_object_definition

from graphql_schema.subscription import Subscription
from graphql_schema.types import field_type, graphql_values, output_type, to_graphql, to_plain
from server.common import OperationError
from server.config import Settings
from server.dispatch import error_body, execute
from server.errors import HeraldError
from server.operations import BY_TOOL, OPERATIONS, Operation
from server.wire import WireModel

log = logging.getLogger(__name__)
OperationErrorType = output_type(OperationError)


def _result_type(op: Operation) -> Any:
    name = op.graphql[0].upper() + op.graphql[1:] + "Result"
    members = (output_type(op.output_model), OperationErrorType)
    clash = get_object_definition(members[0], strict=True).name == name
    assert not clash, f"{op.output_model.__name__} would be named like the union {name}; rename the model"
    return Annotated[Union[members], strawberry.union(name)]  # noqa: UP007


def _resolver(op: Operation) -> Any:
    async def resolve(info: Info, **arguments: Any) -> Any:
        context = info.context
        given = {to_camel(name): to_plain(value) for name, value in arguments.items() if value is not strawberry.UNSET}
        try:
            result = await execute(
                context["runtime"], context["principal"], op.tool, given, request_id=context["request_id"]
            )
        except HeraldError as exc:
            return to_graphql(_graphql_hint(error_body(exc, context["request_id"])))
        return to_graphql(_graphql_hint(result))

    params = [inspect.Parameter("info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Info)]
    annotations: dict[str, Any] = {"info": Info}
    for name, field in op.input_model.model_fields.items():
        annotation = field_type(field, is_input=True)
        default = inspect.Parameter.empty
        if not field.is_required():
            annotation, default = Optional[annotation], strawberry.UNSET  # noqa: UP045
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation))
        annotations[name] = annotation
    annotations["return"] = _result_type(op)
    resolve.__signature__ = inspect.Signature(params, return_annotation=annotations["return"])  # type: ignore[attr-defined]
    resolve.__annotations__ = annotations
    resolve.__name__ = op.graphql
    return resolve


def _graphql_hint(result: WireModel) -> WireModel:
    """The next action's arguments as the GraphQL field takes them (enum names, not MCP's wire values)."""
    action = getattr(result, "recommended_next_action", None)
    if action is None or action.tool not in BY_TOOL or not action.arguments:
        return result
    arguments = graphql_values(BY_TOOL[action.tool].input_model, action.arguments)
    return result.model_copy(update={"recommended_next_action": action.model_copy(update={"arguments": arguments})})


def _root(name: str, kind: str) -> type:
    namespace = {
        op.graphql: strawberry.field(resolver=_resolver(op), name=op.graphql, description=op.summary)
        for op in OPERATIONS
        if op.kind == kind
    }
    return strawberry.type(type(name, (), namespace))


class MaskedError(GraphQLError):
    """An unexpected error as the client sees it: the mask's message; the cause is only in the log."""


class MaskUnexpected(MaskErrors):
    """Masks what ``_should_mask`` picks as a ``MaskedError``, so the error's code follows from its type,
    never from its text (which may quote the caller's input)."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return MaskedError(
            self.error_message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=error.original_error,  # for the log only (graphql_schema.app)
        )


def _should_mask(error: GraphQLError) -> bool:
    """Mask only a genuine fault: an unexpected exception raised while a field resolved.

    Errors without a path come from the request itself, before any resolver ran (syntax, validation,
    a variable that does not coerce, including a scalar's own ValueError such as a bad time zone):
    they are the caller's to fix and keep their message. A GraphQLError underneath is graphql-core's
    own word to the client."""
    original = error.original_error
    return not (error.path is None or original is None or isinstance(original, HeraldError | GraphQLError))


class HeraldSchema(strawberry.Schema):
    """Logs nothing itself: ``graphql_schema.app`` logs each error once, with its code and request id."""

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        return None


LIMITS = {"settings": Settings()}


def configure_limits(settings: Settings) -> None:
    """Depth, alias and size limits come from the serving app's settings (read per request)."""
    LIMITS["settings"] = settings


class ValidatedDocuments(SchemaExtension):
    """Skip re-validating a document that already passed under the same limits.

    Agents and frontends send the same few documents over and over; validating one is most of the
    cost of a small mutation. Only successes are remembered (a bad document is checked every time),
    keyed by the exact text and the limits in force, at most ``SIZE`` documents.
    """

    SIZE = 512
    _passed: OrderedDict[tuple[str, int, int, int], None] = OrderedDict()
    _lock = threading.Lock()

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        settings = LIMITS["settings"]
        key = (
            context.query or "",
            settings.graphql_max_depth,
            settings.graphql_max_aliases,
            settings.graphql_max_tokens,
        )
        with self._lock:
            known = key in self._passed
            if known:
                self._passed.move_to_end(key)
        if known and context.pre_execution_errors is None:
            context.pre_execution_errors = []  # strawberry then skips its validation
        yield
        if not known and context.query and context.pre_execution_errors == []:
            with self._lock:
                self._passed[key] = None
                if len(self._passed) > self.SIZE:
                    self._passed.popitem(last=False)


schema = HeraldSchema(
    query=_root("Query", "query"),
    mutation=_root("Mutation", "mutation"),
    subscription=Subscription,
    extensions=[
        ValidatedDocuments,
        lambda: MaskUnexpected(should_mask_error=_should_mask, error_message="Internal error."),
        lambda: QueryDepthLimiter(max_depth=LIMITS["settings"].graphql_max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=LIMITS["settings"].graphql_max_aliases),
        lambda: MaxTokensLimiter(max_token_count=LIMITS["settings"].graphql_max_tokens),
    ],
)
