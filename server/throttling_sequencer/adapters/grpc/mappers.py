"""Conversions between wire messages (throttling.v1) and domain values. No rules live here.

Nothing here names a plan field: `to_wire` and `from_wire` walk the domain's declaration
(`declaration.declared`, plus `DERIVED` values on the way out) and match each field to the wire field
of its API name, converting by type: nested dataclasses to messages, tuples to repeated fields,
enums by member name (`Strategy.EXACT` <-> `STRATEGY_EXACT`), UUIDs to strings, datetimes to
Timestamps, float seconds to Durations, None to an unset optional field. A field with no wire
counterpart fails the first conversion (and tests/unit/test_field_tables.py) instead of vanishing.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import is_dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.duration_pb2 import Duration
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.protobuf.timestamp_pb2 import Timestamp

from throttling.v1 import game_state_pb2, planning_pb2, throttling_service_pb2
from throttling_sequencer.adapters.grpc import errors
from throttling_sequencer.domain import declaration, model
from throttling_sequencer.domain.config import OPTIONS
from throttling_sequencer.domain.guidance import GuideTick, Observation
from throttling_sequencer.domain.physics import TickState
from throttling_sequencer.service.batch import BatchResult
from throttling_sequencer.service.events import Progress

T = TypeVar("T")
M = TypeVar("M", bound=Message)
E = TypeVar("E", bound=enum.Enum)
Convert = Callable[[Any], Any]
#: How one field's value converts; None: as it is.
FieldConvert = Convert | None


def wire_enum(domain: type[E], wire: EnumDescriptor) -> dict[E, Any]:
    """Domain enum members -> wire numbers, by name: `Strategy.EXACT` is `STRATEGY_EXACT`."""
    prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", wire.name).upper() + "_"
    try:
        return {member: wire.values_by_name[prefix + member.name].number for member in domain}
    except KeyError as missing:
        raise LookupError(f"{domain.__name__} has no wire value {missing} in {wire.full_name}") from None


STRATEGY_TO_WIRE = wire_enum(model.Strategy, planning_pb2.Strategy.DESCRIPTOR)
STRATEGY_FROM_WIRE = {wire: strategy for strategy, wire in STRATEGY_TO_WIRE.items()}
#: Plan.goals has a fast path (add_goals).
_GOALS = frozenset({"goals"})


def to_wire(value: Any, message_class: type[M], omit: frozenset[str] = frozenset()) -> M:
    """A domain value as a wire message: every declared field (and DERIVED value) but `omit`."""
    key: Any = (type(value), message_class)  # functools.cache types its arguments as Hashable
    message: M = _encoder(*key, omit)(value)
    return message


def from_wire(cls: type[T], message: Message) -> T:
    """A domain value from a wire message: every declared field the API shows; unset optional
    fields keep their defaults."""
    key: Any = (cls, type(message))
    value: T = _decoder(*key)(message)
    return value


def overrides_from_wire(o: planning_pb2.PlannerOptions) -> model.PlannerOverrides:
    values = {name: getattr(o, name) for name in OPTIONS if o.HasField(name)}
    return model.PlannerOverrides(strategy=STRATEGY_FROM_WIRE.get(o.strategy), **values)


def overrides_to_wire(o: model.PlannerOverrides) -> planning_pb2.PlannerOptions:
    values: dict[str, Any] = dict(o.values)
    options = planning_pb2.PlannerOptions(**values)
    if o.strategy is not None:
        options.strategy = STRATEGY_TO_WIRE[o.strategy]
    return options


def game_state_from_wire(s: game_state_pb2.GameState) -> model.GameState:
    return from_wire(model.GameState, s)


def unit_from_wire(u: game_state_pb2.Unit) -> model.Unit:
    return from_wire(model.Unit, u)


def assignment_from_wire(a: throttling_service_pb2.Assignment) -> model.Assignment:
    return model.Assignment(player_index=a.player_index, enemy_index=a.enemy_index)


def batch_result_to_wire(r: BatchResult) -> throttling_service_pb2.BatchResult:
    """A plan, or the status of why this unit has none (mapped where every error is: errors.py)."""
    wire = throttling_service_pb2.BatchResult()
    if r.assignment is not None:
        wire.assignment.player_index = r.assignment.player_index
        wire.assignment.enemy_index = r.assignment.enemy_index
    if isinstance(r.outcome, model.Plan):
        wire.plan.CopyFrom(plan_to_wire(r.outcome))
    else:
        wire.error.CopyFrom(errors.status_message(r.outcome))
    return wire


def coordinate_to_wire(c: model.Coordinate) -> game_state_pb2.Coordinate:
    return game_state_pb2.Coordinate(x=c.x, y=c.y)


def goal_to_wire(target: model.Coordinate, throttle: int) -> game_state_pb2.UnitGoal:
    return game_state_pb2.UnitGoal(coordinate=coordinate_to_wire(target), throttle=throttle)


def add_goals(
    goals: RepeatedCompositeFieldContainer[game_state_pb2.UnitGoal],
    target: model.Coordinate,
    throttles: Iterable[int],
) -> None:
    """Append one goal per throttle in place (twice as fast as building each message)."""
    coordinate = coordinate_to_wire(target)
    for throttle in throttles:
        goals.add(throttle=throttle).coordinate.CopyFrom(coordinate)


def score_to_wire(s: model.Score) -> planning_pb2.Score:
    return to_wire(s, planning_pb2.Score)


def duration(seconds: float) -> Duration:
    value = Duration()
    value.FromNanoseconds(round(seconds * 1e9))
    return value


def timestamp(at: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(at)
    return value


def plan_to_wire(p: model.Plan) -> planning_pb2.Plan:
    wire = to_wire(p, planning_pb2.Plan, omit=_GOALS)
    add_goals(wire.goals, p.target, p.throttles)
    return wire


def progress_to_wire(
    target: model.Coordinate, p: Progress
) -> throttling_service_pb2.StreamPlanProgressResponse:
    progress = planning_pb2.PlanProgress(
        iteration=p.iteration,
        elapsed=duration(p.elapsed_seconds),
        score=score_to_wire(p.score),
        lower_bound=p.lower_bound,
        optimality_gap=p.optimality_gap,
    )
    add_goals(progress.goals, target, p.throttles)
    return throttling_service_pb2.StreamPlanProgressResponse(progress=progress)


def tick_to_wire(plan: model.Plan, t: TickState) -> throttling_service_pb2.StreamThrottleStepsResponse:
    return throttling_service_pb2.StreamThrottleStepsResponse(
        tick=planning_pb2.TickState(
            tick=t.tick,
            total_ticks=len(plan.throttles),
            goal=goal_to_wire(plan.target, t.throttle),
            speed=t.speed,
            distance_covered=t.distance_covered,
            distance_remaining=plan.target_distance - t.distance_covered,
        )
    )


def done_to_wire(plan: model.Plan) -> throttling_service_pb2.StreamThrottleStepsResponse:
    return throttling_service_pb2.StreamThrottleStepsResponse(
        done=throttling_service_pb2.StreamDone(
            plan_id=str(plan.plan_id), total_ticks=len(plan.throttles), score=score_to_wire(plan.score)
        )
    )


def guide_tick_to_wire(plan_id: UUID, t: GuideTick) -> throttling_service_pb2.GuideResponse:
    response = to_wire(t, throttling_service_pb2.GuideResponse)
    response.plan_id = str(plan_id)
    return response


def observation_from_wire(o: throttling_service_pb2.Observation) -> Observation:
    return from_wire(Observation, o)


# How each field converts, worked out once per (domain type, message type) from the declaration.

#: Domain types with a wire form of their own (to wire, from wire).
_SPECIAL: dict[Any, tuple[Convert, Convert]] = {
    model.PlannerOverrides: (overrides_to_wire, overrides_from_wire),
}


@functools.cache
def _encoder(cls: Any, message_class: Any, omit: frozenset[str]) -> Convert:
    by_name = message_class.DESCRIPTOR.fields_by_name
    shown = [(f.name, declaration.api_name(f), hint) for f, hint in declaration.declared(cls)]
    shown += [(name, name, hint) for name, hint in declaration.derived(cls)]
    fields = tuple(
        (attr, name, _converter(hint, _wire_field(cls, attr, by_name, name), to=True))
        for attr, name, hint in shown
        if name is not None and name not in omit
    )

    def encode(value: Any) -> Any:
        given = {}
        for attr, name, convert in fields:
            v = getattr(value, attr)
            if v is not None:
                given[name] = v if convert is None else convert(v)
        return message_class(**given)

    return encode


@functools.cache
def _decoder(cls: Any, message_class: Any) -> Convert:
    by_name = message_class.DESCRIPTOR.fields_by_name
    fields = []
    for f, hint in declaration.declared(cls):
        name = declaration.api_name(f)
        if name is not None:
            wire = _wire_field(cls, f.name, by_name, name)
            optional = wire.has_presence and wire.message_type is None
            fields.append((f.name, name, _converter(hint, wire, to=False), optional))

    def decode(message: Message) -> Any:
        values = {}
        for attr, name, convert, optional in fields:
            if not optional or message.HasField(name):
                v = getattr(message, name)
                values[attr] = v if convert is None else convert(v)
        return cls(**values)

    return decode


def _is_dataclass(hint: Any) -> bool:
    return is_dataclass(hint)


def _wire_field(cls: type, attr: str, by_name: Any, name: str) -> FieldDescriptor:
    try:
        field: FieldDescriptor = by_name[name]
    except KeyError:
        raise LookupError(f"{cls.__name__}.{attr} has no wire field {name!r}") from None
    return field


def _converter(hint: Any, wire: FieldDescriptor, *, to: bool) -> FieldConvert:
    """Domain value -> wire value (`to`), or back, for one field."""
    hint = declaration.non_optional(hint)  # None is an unset field
    if wire.is_repeated:
        one = _item_converter(declaration.item_type(hint), wire, to=to)
        if one is None:
            return None if to else tuple
        if to:
            return lambda values: [one(v) for v in values]
        return lambda values: tuple(one(v) for v in values)
    return _item_converter(hint, wire, to=to)


def _item_converter(hint: Any, wire: FieldDescriptor, *, to: bool) -> FieldConvert:
    message_type = wire.message_type
    message = message_type.full_name if message_type else None
    if hint in _SPECIAL:
        return _SPECIAL[hint][0 if to else 1]
    if message == "google.protobuf.Timestamp" and hint is datetime:
        return timestamp if to else lambda t: t.ToDatetime(tzinfo=UTC)
    if message == "google.protobuf.Duration" and hint is float:  # seconds
        return duration if to else lambda d: d.ToNanoseconds() / 1e9
    if message_type is not None and _is_dataclass(hint):
        message_class: Any = GetMessageClass(message_type)
        return _encoder(hint, message_class, frozenset()) if to else _decoder(hint, message_class)
    if wire.enum_type is not None and isinstance(hint, type) and issubclass(hint, enum.Enum):
        numbers = wire_enum(hint, wire.enum_type)
        if to:
            return numbers.__getitem__
        members = {number: member for member, number in numbers.items()}
        return lambda number: members.get(number)
    if hint is UUID and wire.type == FieldDescriptor.TYPE_STRING:
        return str if to else UUID
    if hint in (float, int, str, bool) and message is None and wire.enum_type is None:
        return None
    raise TypeError(f"no conversion between {hint} and wire field {wire.full_name}")
