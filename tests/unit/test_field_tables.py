"""Every layer shows every field: the proto's messages are walked against the domain's declaration,
the storage row, the journal and the GraphQL schema, so a field missing from one layer fails here
instead of vanishing."""

from __future__ import annotations

import enum
import json
import re
from dataclasses import MISSING, fields, is_dataclass, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from graphql import GraphQLInputObjectType, GraphQLObjectType

from bridge.graphql.schema import schema
from throttling.v1 import game_state_pb2, planning_pb2
from throttling_sequencer.adapters.grpc import mappers
from throttling_sequencer.adapters.storage import codec, rows
from throttling_sequencer.adapters.storage.models import PlanRecord
from throttling_sequencer.domain import declaration, model
from throttling_sequencer.domain.config import BOUNDS, OPTIONS, PlannerConfig

#: Domain values and the messages that show them.
SHOWN = [
    (model.Plan, planning_pb2.Plan),
    (model.Score, planning_pb2.Score),
    (model.GuidanceSummary, planning_pb2.GuidanceSummary),
    (model.GameState, game_state_pb2.GameState),
    (model.Unit, game_state_pb2.Unit),
    (model.Coordinate, game_state_pb2.Coordinate),
    (model.UnitGoal, game_state_pb2.UnitGoal),
]
#: GraphQL types and the messages they show; message fields GraphQL does not show, and GraphQL's
#: own names for the rest where they differ (kept from the earlier service).
GRAPHQL = [
    ("PlanType", planning_pb2.Plan, {"game_state", "options"}),
    ("ScoreType", planning_pb2.Score, set()),
    ("GuidanceSummaryType", planning_pb2.GuidanceSummary, set()),
    ("PlannerOptionsInput", planning_pb2.PlannerOptions, set()),
    ("PlanProgressType", planning_pb2.PlanProgress, set()),
    ("GameStateInputType", game_state_pb2.GameState, set()),
    ("UnitInputType", game_state_pb2.Unit, set()),
    ("CoordinateType", game_state_pb2.Coordinate, set()),
    ("CoordinateInputType", game_state_pb2.Coordinate, set()),
    ("UnitGoalType", game_state_pb2.UnitGoal, set()),
]
GRAPHQL_NAMES = {
    "plan_id": "id",
    "create_time": "createdAt",
    "compute_time": "computeTimeMs",
    "elapsed": "elapsedMs",
}


def wire_names(descriptor: Any) -> set[str]:
    return {f.name for f in descriptor.fields}


def domain_names(cls: type) -> set[str]:
    shown = {declaration.api_name(f) for f, _ in declaration.declared(cls)} - {None}
    return {name for name in shown if name is not None} | {name for name, _ in declaration.derived(cls)}


@pytest.mark.parametrize(("cls", "message"), SHOWN, ids=[cls.__name__ for cls, _ in SHOWN])
def test_the_domain_declares_every_field_of_the_message_that_shows_it(cls: type, message: Any) -> None:
    assert domain_names(cls) == wire_names(message.DESCRIPTOR)


def test_every_planner_option_is_on_the_wire_and_only_those() -> None:
    options = planning_pb2.PlannerOptions.DESCRIPTOR
    assert wire_names(options) == {"strategy", *OPTIONS}
    assert all(options.fields_by_name[name].has_presence for name in OPTIONS), "unset keeps the default"
    assert set(BOUNDS) <= set(OPTIONS) and set(OPTIONS) - set(BOUNDS) == {"seed"}


def test_overrides_accept_exactly_the_configs_options() -> None:
    every: dict[str, Any] = {name: high for name, (_, high) in BOUNDS.items()} | {"seed": 7}
    overrides = model.PlannerOverrides(strategy=model.Strategy.RANDOM, **every)
    assert PlannerConfig().with_overrides(overrides) == PlannerConfig(**every)
    with pytest.raises(TypeError, match="unknown planner options: max_tick"):
        model.PlannerOverrides(max_tick=3)


@pytest.mark.parametrize(
    ("domain", "wire"), [(model.Strategy, planning_pb2.Strategy), (model.Arrival, planning_pb2.Arrival)]
)
def test_every_enum_member_has_one_wire_value(domain: Any, wire: Any) -> None:
    numbers = mappers.wire_enum(domain, wire.DESCRIPTOR)
    assert sorted(numbers.values()) == sorted(n for n in wire.values() if n != 0)


def every_field_set() -> model.Plan:
    """A plan whose every field differs from its default and from the zero value (a field added
    with a default gets a value by its type)."""
    unit = model.Unit(model.Coordinate(1.5, -2.0), 3.0, 10.0, 0.25)
    target = model.Unit(model.Coordinate(900.0, 4.0), 0.5, 50.0, 0.5)
    plan = model.Plan(
        plan_id=UUID("12345678-1234-4234-8234-123456789abc"),
        request_id="req-1",
        user_id="user-1",
        created_at=datetime(2026, 11, 22, 10, 30, 15, 250_000, tzinfo=UTC),
        strategy=model.Strategy.GENETIC,
        game_state=model.GameState((unit,), (target,)),
        overrides=model.PlannerOverrides(strategy=model.Strategy.GENETIC, max_ticks=40, speed_weight=0.75),
        throttles=(300, 120, 0, 7),
        score=model.Score(1.25, 0.5, 0.75, 4, 3),
        final_speed=2.5,
        target_distance=898.5,
        distance_covered=897.25,
        compute_seconds=0.012345678,
    )
    given = {
        f.name: other_than(f.default, hint)
        for f, hint in declaration.declared(model.Plan)
        if f.default is not MISSING
    }
    return replace(plan, **given)


def other_than(default: Any, hint: Any) -> Any:
    """A value of type `hint` that is neither `default` nor zero."""
    kind = declaration.non_optional(hint)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return next(member for member in kind if member != default)
    if kind is bool:
        return not default
    if kind in (int, float):
        return kind((default or 0) + 1)
    if kind is str:
        return f"{default}-set"
    if isinstance(kind, type) and is_dataclass(kind) and default is None:  # optional nested value
        nested: Any = kind
        return nested(**{f.name: other_than(None, inner) for f, inner in declaration.declared(nested)})
    raise TypeError(f"pick a value for a {hint} field here")


def test_every_plan_field_reaches_the_wire() -> None:
    plan = every_field_set()
    assert all(getattr(plan, f.name) != f.default for f in fields(model.Plan) if f.default is not MISSING)
    wire = mappers.plan_to_wire(plan)
    assert {f.name for f, _ in wire.ListFields()} == wire_names(planning_pb2.Plan.DESCRIPTOR)
    assert wire.create_time.ToDatetime(tzinfo=UTC) == plan.created_at
    assert wire.compute_time.ToNanoseconds() == 12_345_678
    assert (wire.distance_remaining, wire.optimality_gap) == (1.25, 0.25)  # lower_bound 1.0
    assert mappers.overrides_from_wire(wire.options) == plan.overrides
    assert mappers.game_state_from_wire(wire.game_state) == plan.game_state
    assert mappers.from_wire(model.Score, wire.score) == plan.score


def test_every_plan_field_has_a_column_and_every_column_a_field() -> None:
    plan = every_field_set()
    row = rows.to_row(plan)
    assert set(row) == set(PlanRecord._meta.fields_map)
    assert rows.from_row(PlanRecord(**row)) == plan


def test_every_plan_field_reaches_the_journal_and_reads_back() -> None:
    plan = every_field_set()
    line = json.loads(json.dumps(codec.plan_to_json(plan)))
    assert set(line) == {codec.KEYS.get(f.name, f.name) for f in fields(model.Plan)}
    assert codec.plan_from_json(line) == plan


def test_a_journal_line_from_before_a_field_existed_reads_with_its_default() -> None:
    plan = replace(every_field_set(), arrival=model.Arrival.ON_TARGET, lower_bound=None)
    line = codec.plan_to_json(plan)
    del line["arrival"], line["lower_bound"]  # the first journal format had neither
    assert codec.plan_from_json(line) == plan


def camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


@pytest.mark.parametrize(("name", "message", "hidden"), GRAPHQL, ids=[name for name, _, _ in GRAPHQL])
def test_graphql_shows_every_field_of_the_message(name: str, message: Any, hidden: set[str]) -> None:
    graphql_type = schema._schema.type_map[name]
    assert isinstance(graphql_type, GraphQLObjectType | GraphQLInputObjectType)
    expected = {GRAPHQL_NAMES.get(f, camel(f)) for f in wire_names(message.DESCRIPTOR) - hidden}
    assert expected <= set(graphql_type.fields), f"{name} misses {expected - set(graphql_type.fields)}"
    extra = set(graphql_type.fields) - expected
    assert extra <= {"plan"}, f"{name} has fields no message field stands for: {extra}"
