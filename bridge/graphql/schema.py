"""The GraphQL schema: the earlier service's public names, plus plans, history and progress.

Every resolver is a translation: GraphQL input -> gRPC request -> GraphQL type.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.types import ExecutionContext, Info

from bridge.graphql.cost import DocumentCost, DocumentSize
from bridge.graphql.subscriptions import SubscriptionLimits, WebSocketOnly
from bridge.graphql.upstream import Upstream, ensure_code, graphql_path, metadata_from
from throttling.v1 import game_state_pb2, planning_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub


@strawberry.type(description="A point on the map.")
class CoordinateType:
    x: float
    y: float


@strawberry.type(description="One tick of a plan: the target and the throttle for that tick.")
class UnitGoalType:
    coordinate: CoordinateType
    throttle: int


@strawberry.input(description="A point on the map.")
class CoordinateInputType:
    x: float
    y: float


@strawberry.input(description="A unit: where it stands and how it moves (mass > 0, friction in [0, 1)).")
class UnitInputType:
    coordinate: CoordinateInputType
    speed: float
    mass: float
    friction: float


@strawberry.input(description="The game; the plan moves playerUnits[0] towards enemyUnits[0].")
class GameStateInputType:
    player_units: list[UnitInputType]
    enemy_units: list[UnitInputType]


@strawberry.enum(description="How a plan is searched for.")
class StrategyType(enum.Enum):
    EXACT = planning_pb2.STRATEGY_EXACT
    GENETIC = planning_pb2.STRATEGY_GENETIC
    RANDOM = planning_pb2.STRATEGY_RANDOM


@strawberry.enum(description="What a plan achieves.")
class ArrivalType(enum.Enum):
    UNSPECIFIED = planning_pb2.ARRIVAL_UNSPECIFIED
    ON_TARGET = planning_pb2.ARRIVAL_ON_TARGET
    TOO_FAST = planning_pb2.ARRIVAL_TOO_FAST
    UNREACHABLE = planning_pb2.ARRIVAL_UNREACHABLE
    OVERSHOOT_UNAVOIDABLE = planning_pb2.ARRIVAL_OVERSHOOT_UNAVOIDABLE
    OFF_TARGET = planning_pb2.ARRIVAL_OFF_TARGET


@strawberry.input(description="Planner overrides; unset fields keep the server defaults.")
class PlannerOptionsInput:
    strategy: StrategyType | None = None
    distance_weight: float | None = None
    speed_weight: float | None = None
    length_weight: float | None = None
    nonzero_weight: float | None = None
    speed_threshold: float | None = None
    min_throttle: int | None = None
    max_throttle: int | None = None
    max_ticks: int | None = None
    time_budget_ms: int | None = None
    seed: int | None = None


@strawberry.type(description="A plan's score (lower is better) and its raw terms.")
class ScoreType:
    total: float
    distance_error: float
    speed_penalty: float
    ticks: int
    nonzero_ticks: int


@strawberry.federation.type(keys=["id"], description="A stored plan.")
class PlanType:
    id: strawberry.ID
    goals: list[UnitGoalType]
    score: ScoreType
    final_speed: float
    target_distance: float
    distance_covered: float
    distance_remaining: float
    strategy: StrategyType
    arrival: ArrivalType
    lower_bound: float | None = strawberry.field(
        description="Proven lower bound on the best score, if known."
    )
    optimality_gap: float | None = strawberry.field(description="score.total - lowerBound, if known.")
    compute_time_ms: float
    created_at: datetime
    request_id: str
    user_id: str

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> PlanType:
        upstream, metadata = _upstream(info)
        request = pb.GetPlanRequest(plan_id=str(id))
        reply = await upstream.call(
            lambda stub: stub.GetPlan(request, metadata=metadata, timeout=upstream.call_timeout)
        )
        return _plan(reply.plan)


@strawberry.type(description="A page of plans, newest first.")
class PlanPageType:
    plans: list[PlanType]
    next_cursor: str | None = strawberry.field(
        description="Pass as `after` for the next page; null on the last."
    )


@strawberry.type(description="An improved plan found while planning; the last event carries the stored plan.")
class PlanProgressType:
    iteration: int
    elapsed_ms: float
    goals: list[UnitGoalType]
    score: ScoreType
    lower_bound: float | None
    optimality_gap: float | None
    plan: PlanType | None = None


def _upstream(info: Info) -> tuple[Upstream, tuple[tuple[str, str], ...]]:
    context: dict[str, Any] = info.context
    upstream: Upstream = context["upstream"]
    return upstream, metadata_from(context)


async def _subscribe(info: Info, start: Callable[[ThrottlingServiceStub], Any]) -> AsyncIterator[Any]:
    """A server stream for a subscription, while the subscription caps leave it a place."""
    context: dict[str, Any] = info.context
    limits: SubscriptionLimits = context["subscriptions"]
    upstream: Upstream = context["upstream"]
    with limits.hold(context["connection"], context["client"]):
        async for message in upstream.stream(start):
            yield message


def _game_state(value: GameStateInputType) -> game_state_pb2.GameState:
    def unit(u: UnitInputType) -> game_state_pb2.Unit:
        return game_state_pb2.Unit(
            coordinate=game_state_pb2.Coordinate(x=u.coordinate.x, y=u.coordinate.y),
            speed=u.speed,
            mass=u.mass,
            friction=u.friction,
        )

    return game_state_pb2.GameState(
        player_units=[unit(u) for u in value.player_units], enemy_units=[unit(u) for u in value.enemy_units]
    )


def _options(value: PlannerOptionsInput | None) -> planning_pb2.PlannerOptions:
    options = planning_pb2.PlannerOptions()
    if value is None:
        return options
    for name, given in vars(value).items():
        if given is None:
            continue
        if name == "strategy":
            options.strategy = given.value
            continue
        try:
            setattr(options, name, given)
        except (ValueError, TypeError) as error:  # GraphQL's Int is signed; e.g. the seed is not
            field = graphql_path(f"options.{name}")
            raise GraphQLError(
                f"invalid request: {field}",
                extensions={
                    "code": "BAD_USER_INPUT",
                    "fieldViolations": [{"field": field, "description": f"out of range ({error})"}],
                },
            ) from None
    return options


def _goals(goals: Any) -> list[UnitGoalType]:
    return [
        UnitGoalType(coordinate=CoordinateType(x=g.coordinate.x, y=g.coordinate.y), throttle=g.throttle)
        for g in goals
    ]


def _score(s: planning_pb2.Score) -> ScoreType:
    return ScoreType(
        total=s.total,
        distance_error=s.distance_error,
        speed_penalty=s.speed_penalty,
        ticks=s.ticks,
        nonzero_ticks=s.nonzero_ticks,
    )


def _plan(p: planning_pb2.Plan) -> PlanType:
    return PlanType(
        id=strawberry.ID(p.plan_id),
        goals=_goals(p.goals),
        score=_score(p.score),
        final_speed=p.final_speed,
        target_distance=p.target_distance,
        distance_covered=p.distance_covered,
        distance_remaining=p.distance_remaining,
        strategy=StrategyType(p.strategy),
        arrival=ArrivalType(p.arrival),
        lower_bound=p.lower_bound if p.HasField("lower_bound") else None,
        optimality_gap=p.optimality_gap if p.HasField("optimality_gap") else None,
        compute_time_ms=p.compute_time.ToNanoseconds() / 1e6,
        created_at=p.create_time.ToDatetime(tzinfo=UTC),
        request_id=p.request_id,
        user_id=p.user_id,
    )


@strawberry.type
class Query:
    @strawberry.field(description="The earlier API: the goals of a plan for this game state.")
    async def calculate_throttle_steps(
        self, info: Info, game_state_input: GameStateInputType, options: PlannerOptionsInput | None = None
    ) -> list[UnitGoalType]:
        upstream, metadata = _upstream(info)
        request = pb.CalculateThrottleStepsRequest(
            game_state=_game_state(game_state_input), options=_options(options)
        )
        reply = await upstream.call(
            lambda stub: stub.CalculateThrottleSteps(
                request, metadata=metadata, timeout=upstream.call_timeout
            )
        )
        return _goals(reply.goals)

    @strawberry.field(description="One stored plan.")
    async def plan(self, info: Info, id: strawberry.ID) -> PlanType:
        return await PlanType.resolve_reference(info, id)

    @strawberry.field(description="Stored plans, newest first.")
    async def plans(self, info: Info, first: int = 20, after: str | None = None) -> PlanPageType:
        upstream, metadata = _upstream(info)
        request = pb.ListPlansRequest(page_size=first, page_token=after or "")
        reply = await upstream.call(
            lambda stub: stub.ListPlans(request, metadata=metadata, timeout=upstream.call_timeout)
        )
        return PlanPageType(plans=[_plan(p) for p in reply.plans], next_cursor=reply.next_page_token or None)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Plan, store and return the full plan.")
    async def plan(
        self, info: Info, game_state_input: GameStateInputType, options: PlannerOptionsInput | None = None
    ) -> PlanType:
        upstream, metadata = _upstream(info)
        request = pb.CreatePlanRequest(game_state=_game_state(game_state_input), options=_options(options))
        reply = await upstream.call(
            lambda stub: stub.CreatePlan(request, metadata=metadata, timeout=upstream.call_timeout)
        )
        return _plan(reply.plan)


@strawberry.type
class Subscription:
    @strawberry.subscription(description="The earlier API: one goal per tick of a new plan, then complete.")
    async def generate_steps(
        self,
        info: Info,
        game_state_input: GameStateInputType,
        options: PlannerOptionsInput | None = None,
        tick_interval_ms: int = 0,
    ) -> AsyncGenerator[UnitGoalType, None]:
        metadata = metadata_from(info.context)
        request = pb.StreamThrottleStepsRequest(
            game_state=_game_state(game_state_input),
            options=_options(options),
            tick_interval_ms=tick_interval_ms,
        )
        async for message in _subscribe(
            info, lambda stub: stub.StreamThrottleSteps(request, metadata=metadata)
        ):
            if message.WhichOneof("event") == "tick":
                goal = message.tick.goal
                yield UnitGoalType(
                    coordinate=CoordinateType(x=goal.coordinate.x, y=goal.coordinate.y),
                    throttle=goal.throttle,
                )

    @strawberry.subscription(
        description="Each improved plan while planning; the last event carries the stored plan."
    )
    async def plan_progress(
        self, info: Info, game_state_input: GameStateInputType, options: PlannerOptionsInput | None = None
    ) -> AsyncGenerator[PlanProgressType, None]:
        metadata = metadata_from(info.context)
        request = pb.StreamPlanProgressRequest(
            game_state=_game_state(game_state_input), options=_options(options)
        )
        async for message in _subscribe(
            info, lambda stub: stub.StreamPlanProgress(request, metadata=metadata)
        ):
            if message.WhichOneof("event") == "progress":
                p = message.progress
                yield PlanProgressType(
                    iteration=p.iteration,
                    elapsed_ms=p.elapsed.ToNanoseconds() / 1e6,
                    goals=_goals(p.goals),
                    score=_score(p.score),
                    lower_bound=p.lower_bound if p.HasField("lower_bound") else None,
                    optimality_gap=p.optimality_gap if p.HasField("optimality_gap") else None,
                )
            else:
                done = message.done
                yield PlanProgressType(
                    iteration=-1,
                    elapsed_ms=done.compute_time.ToNanoseconds() / 1e6,
                    goals=_goals(done.goals),
                    score=_score(done.score),
                    lower_bound=done.lower_bound if done.HasField("lower_bound") else None,
                    optimality_gap=done.optimality_gap if done.HasField("optimality_gap") else None,
                    plan=_plan(done),
                )


#: Hostile documents are refused before they reach a resolver (cost limits: bridge/graphql/cost.py).
MAX_DEPTH = 12
MAX_ALIASES = 30
#: Also the most fields fragments may expand a document to: no more than could be written out.
MAX_TOKENS = 4_000


class _Schema(strawberry.federation.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Every error leaves with an `extensions.code` (logged first as it was raised)."""
        super().process_errors(errors, execution_context)
        for error in errors:
            ensure_code(error)


schema = _Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=[PlanType],
    federation_version="2.5",
    extensions=[
        lambda: DocumentSize(max_fields=MAX_TOKENS),
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        DocumentCost,
        WebSocketOnly,
    ],
)
