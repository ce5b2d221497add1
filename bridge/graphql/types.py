"""The GraphQL types, each built from the throttling.v1 message it shows, so a field added to the
proto reaches GraphQL by itself.

`@shows(Message)` gives an output type one field per message field, typed from the proto:
numbers, strings and booleans as they are (a proto3 `optional` one nullable), enums as the enums
below, a Timestamp as DateTime, a Duration as milliseconds (`elapsed` -> `elapsedMs`), a nested
message as the type that shows it, a repeated field as a list. `@accepts(Message)` does the same
for an input type. Fields a class declares itself are left to it (with a value the caller passes);
`rename` and `omit` name the few message fields shown otherwise. `from_proto` and `to_proto`
convert by the same table.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import strawberry
from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.rpc import status_pb2
from graphql import GraphQLError
from strawberry.types import Info

from bridge.graphql.upstream import graphql_code, graphql_path, status_code, unary, violations_of
from throttling.v1 import game_state_pb2, planning_pb2
from throttling.v1 import throttling_service_pb2 as pb

C = TypeVar("C", bound=type)
T = TypeVar("T")
Convert = Callable[[Any], Any]

_SCALARS: dict[int, type] = {
    FieldDescriptor.TYPE_DOUBLE: float,
    FieldDescriptor.TYPE_FLOAT: float,
    FieldDescriptor.TYPE_INT32: int,
    FieldDescriptor.TYPE_INT64: int,
    FieldDescriptor.TYPE_UINT32: int,
    FieldDescriptor.TYPE_UINT64: int,
    FieldDescriptor.TYPE_SINT32: int,
    FieldDescriptor.TYPE_SINT64: int,
    FieldDescriptor.TYPE_BOOL: bool,
    FieldDescriptor.TYPE_STRING: str,
}


@dataclass(frozen=True, slots=True)
class Shown:
    """One field of a GraphQL type and the message field it shows."""

    name: str
    proto: str
    #: Message value -> GraphQL value (outputs), or back (inputs).
    convert: Convert
    #: A proto3 `optional` field: null when unset.
    optional: bool


#: GraphQL type -> its fields; message or enum full name -> the GraphQL type that shows it.
FIELDS: dict[type, tuple[Shown, ...]] = {}
OUTPUTS: dict[str, type] = {}
INPUTS: dict[str, type] = {}
ENUMS: dict[str, type[enum.Enum]] = {}


def proto_enum(wire: Any, name: str, description: str, *, unspecified: bool) -> Any:
    """A GraphQL enum of a proto enum's values, without its prefix (`STRATEGY_EXACT` -> `EXACT`);
    the members' values are the proto numbers."""
    descriptor: EnumDescriptor = wire.DESCRIPTOR
    prefix = descriptor.values[0].name.removesuffix("UNSPECIFIED")
    members = {
        value.name.removeprefix(prefix): value.number
        for value in descriptor.values
        if unspecified or value.number != 0
    }
    members_enum: Any = enum.Enum(name, members)  # type: ignore[misc]  # a name known at run time
    created: type[enum.Enum] = strawberry.enum(members_enum, description=description)
    ENUMS[descriptor.full_name] = created
    return created


def shows(
    message: type[Message],
    *,
    rename: Mapping[str, str] | None = None,
    omit: tuple[str, ...] = (),
    descriptions: Mapping[str, str] | None = None,
    nullable: tuple[str, ...] = (),
) -> Callable[[C], C]:
    """Give an output type the fields of `message` (apply before `strawberry.type`); `nullable`
    names message-typed fields that may be unset (null), which are otherwise always shown."""
    return _fields_of(
        message.DESCRIPTOR, OUTPUTS, rename or {}, omit, descriptions or {}, inputs=False, nullable=nullable
    )


def accepts(message: type[Message], *, all_optional: bool = False) -> Callable[[C], C]:
    """Give an input type the fields of `message`; `all_optional`: each may be left out (null)."""
    return _fields_of(message.DESCRIPTOR, INPUTS, {}, (), {}, inputs=True, all_optional=all_optional)


def from_proto(cls: type[T], message: Message, **given: Any) -> T:
    """An instance of output type `cls` from `message`; `given` values are used as they are."""
    values = dict(given)
    for field in FIELDS[cls]:
        if field.name in values:
            continue
        if field.optional and not message.HasField(field.proto):
            values[field.name] = None
        else:
            values[field.name] = field.convert(getattr(message, field.proto))
    return cls(**values)


def to_proto(value: Any, message_class: type[Message], path: str = "") -> Any:
    """The message an input value stands for; null fields are left unset.

    A value GraphQL accepts but the wire type does not (GraphQL's Int is signed, a seed is not)
    is BAD_USER_INPUT naming the field at `path`, not Python's words with no code.
    """
    message = message_class()
    for field in FIELDS[type(value)]:
        v = getattr(value, field.name)
        if v is None:
            continue
        try:
            converted = field.convert(v)
            if isinstance(converted, Message):
                getattr(message, field.proto).CopyFrom(converted)
            elif isinstance(converted, list):
                getattr(message, field.proto).extend(converted)
            else:
                setattr(message, field.proto, converted)
        except (ValueError, TypeError) as error:
            where = graphql_path(f"{path}.{field.proto}" if path else field.proto)
            raise GraphQLError(
                f"invalid request: {where}",
                extensions={
                    "code": "BAD_USER_INPUT",
                    "fieldViolations": [{"field": where, "description": f"out of range ({error})"}],
                },
            ) from None
    return message


def _fields_of(
    descriptor: Any,
    registry: dict[str, type],
    rename: Mapping[str, str],
    omit: tuple[str, ...],
    descriptions: Mapping[str, str],
    *,
    inputs: bool,
    all_optional: bool = False,
    nullable: tuple[str, ...] = (),
) -> Callable[[C], C]:
    def build(cls: C) -> C:
        own: dict[str, Any] = dict(inspect.get_annotations(cls))
        annotations: dict[str, Any] = {}
        fields = []
        for wire in descriptor.fields:
            if wire.name in omit:
                continue
            annotation, convert, name = _typed(wire, inputs)
            name = rename.get(wire.name, name)
            if name == "id":
                annotation = strawberry.ID
            if name in own:  # the class shows it its own way
                annotations[name] = own.pop(name)
                continue
            optional = (
                all_optional or wire.name in nullable or (wire.has_presence and wire.message_type is None)
            )
            if optional:
                annotation = annotation | None
                if inputs:
                    setattr(cls, name, None)
            if name in descriptions:
                setattr(cls, name, strawberry.field(description=descriptions[name]))
            annotations[name] = annotation
            fields.append(Shown(name, wire.name, convert, optional))
        cls.__annotations__ = annotations | own
        FIELDS[cls] = tuple(fields)
        registry[descriptor.full_name] = cls
        return cls

    return build


def _typed(wire: FieldDescriptor, inputs: bool) -> tuple[Any, Convert, str]:
    """A message field's GraphQL annotation, conversion and default name."""
    annotation, convert, name = _typed_item(wire, inputs)
    if wire.is_repeated:
        return list[annotation], lambda values: [convert(v) for v in values], name  # type: ignore[valid-type]
    return annotation, convert, name


def _typed_item(wire: FieldDescriptor, inputs: bool) -> tuple[Any, Convert, str]:
    message = wire.message_type
    if message is not None and message.full_name == "google.protobuf.Timestamp" and not inputs:
        return datetime, lambda t: t.ToDatetime(tzinfo=UTC), wire.name
    if message is not None and message.full_name == "google.protobuf.Duration" and not inputs:
        return float, lambda d: d.ToNanoseconds() / 1e6, f"{wire.name}_ms"
    if message is not None:
        registry = INPUTS if inputs else OUTPUTS
        if message.full_name not in registry:
            raise LookupError(f"no GraphQL {'input' if inputs else 'type'} shows {message.full_name} yet")
        shown = registry[message.full_name]
        if inputs:
            message_class = GetMessageClass(message)
            return shown, lambda v: to_proto(v, message_class), wire.name
        return shown, lambda v: from_proto(shown, v), wire.name
    if wire.enum_type is not None:
        graphql_enum = ENUMS[wire.enum_type.full_name]
        return graphql_enum, (lambda member: member.value) if inputs else graphql_enum, wire.name
    return _SCALARS[wire.type], _same, wire.name


def _same(value: T) -> T:
    return value


StrategyType = proto_enum(
    planning_pb2.Strategy, "StrategyType", "How a plan is searched for.", unspecified=False
)
ArrivalType = proto_enum(planning_pb2.Arrival, "ArrivalType", "What a plan achieves.", unspecified=True)


@strawberry.type(description="A point on the map.")
@shows(game_state_pb2.Coordinate)
class CoordinateType:
    pass


@strawberry.type(description="One tick of a plan: the target and the throttle for that tick.")
@shows(game_state_pb2.UnitGoal)
class UnitGoalType:
    pass


@strawberry.input(description="A point on the map.")
@accepts(game_state_pb2.Coordinate)
class CoordinateInputType:
    pass


@strawberry.input(description="A unit: where it stands and how it moves (mass > 0, friction in [0, 1)).")
@accepts(game_state_pb2.Unit)
class UnitInputType:
    pass


@strawberry.input(description="The game; the plan moves playerUnits[0] towards enemyUnits[0].")
@accepts(game_state_pb2.GameState)
class GameStateInputType:
    pass


@strawberry.input(description="Planner overrides; unset fields keep the server defaults.")
@accepts(planning_pb2.PlannerOptions, all_optional=True)
class PlannerOptionsInput:
    pass


@strawberry.type(description="A plan's score (lower is better) and its raw terms.")
@shows(planning_pb2.Score)
class ScoreType:
    pass


@strawberry.type(description="How a guidance session (gRPC Guide) that started from a plan went.")
@shows(planning_pb2.GuidanceSummary)
class GuidanceSummaryType:
    pass


@strawberry.federation.type(keys=["id"], description="A stored plan.")
@shows(
    planning_pb2.Plan,
    rename={"plan_id": "id", "create_time": "created_at"},
    omit=("game_state", "options"),
    descriptions={
        "lower_bound": "Proven lower bound on the best score, if known.",
        "optimality_gap": "score.total - lowerBound, if known.",
        "guidance": "The summary of the guidance session that started from the plan, once it ended.",
    },
    nullable=("guidance",),
)
class PlanType:
    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> PlanType:
        reply = await unary(info.context, lambda stub: stub.GetPlan, pb.GetPlanRequest(plan_id=str(id)))
        return from_proto(PlanType, reply.plan)


@strawberry.type(description="A page of plans, newest first.")
class PlanPageType:
    plans: list[PlanType]
    next_cursor: str | None = strawberry.field(
        description="Pass as `after` for the next page; null on the last."
    )


@strawberry.type(
    description="An improved plan found while planning; the last event carries the stored plan "
    "(`plan`) and has no `iteration`."
)
@shows(planning_pb2.PlanProgress)
class PlanProgressType:
    iteration: int | None = strawberry.field(
        description="The planner's iteration that found this plan; null on the last event (`plan`)."
    )
    plan: PlanType | None = strawberry.field(
        default=None, description="The stored plan: set on the last event only."
    )


@strawberry.input(
    description="One unit of a batch: playerUnits[playerIndex] moves towards enemyUnits[enemyIndex]."
)
@accepts(pb.Assignment)
class AssignmentInput:
    pass


@strawberry.type(
    description="One unit of a batch: playerUnits[playerIndex] moves towards enemyUnits[enemyIndex]."
)
@shows(pb.Assignment)
class AssignmentType:
    pass


@strawberry.type(description="A field of the request that breaks a rule, as an argument path.")
class FieldViolationType:
    field: str
    description: str


@strawberry.type(description="Why one unit of a batch has no plan.")
class BatchErrorType:
    code: str = strawberry.field(description="As a GraphQL error's extensions.code, e.g. BAD_USER_INPUT.")
    grpc_status: str = strawberry.field(description="The gRPC status, e.g. INVALID_ARGUMENT.")
    message: str
    field_violations: list[FieldViolationType] = strawberry.field(
        description="The offending fields, e.g. gameStateInput.playerUnits[3].mass."
    )

    @classmethod
    def of(cls, status: status_pb2.Status) -> BatchErrorType:
        code = status_code(status)
        return cls(
            code=graphql_code(code),
            grpc_status=code.name,
            message=status.message,
            field_violations=[FieldViolationType(**v) for v in violations_of(status)],
        )


@strawberry.type(description="One result of a batch, in request order: a plan, or why its unit has none.")
@shows(pb.BatchResult, omit=("error",))
class BatchResultType:
    plan: PlanType | None = strawberry.field(description="The stored plan, unless `error` is set.")
    error: BatchErrorType | None = strawberry.field(description="Why this unit has no plan.")
    assignment: AssignmentType | None = strawberry.field(
        description="The unit planned: as given, or a player unit and its nearest enemy unit."
    )

    @classmethod
    def of(cls, result: pb.BatchResult) -> BatchResultType:
        return from_proto(
            cls,
            result,
            plan=from_proto(PlanType, result.plan) if result.HasField("plan") else None,
            error=BatchErrorType.of(result.error) if result.HasField("error") else None,
            assignment=from_proto(AssignmentType, result.assignment)
            if result.HasField("assignment")
            else None,
        )
