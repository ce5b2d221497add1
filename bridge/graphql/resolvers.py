"""The root fields: each translates GraphQL input -> gRPC request -> GraphQL type, nothing more.

Unary calls go through `upstream.unary`, subscriptions through `subscribe` (which holds a place
under the subscription caps while the server stream lasts).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

import strawberry
from google.protobuf.message import Message
from strawberry.types import Info

from bridge.graphql.subscriptions import SubscriptionLimits
from bridge.graphql.types import (
    GameStateInputType,
    PlannerOptionsInput,
    PlanPageType,
    PlanProgressType,
    PlanType,
    UnitGoalType,
    from_proto,
    to_proto,
)
from bridge.graphql.upstream import Method, Upstream, metadata_from, unary
from throttling.v1 import game_state_pb2, planning_pb2
from throttling.v1 import throttling_service_pb2 as pb


async def subscribe(context: Mapping[str, Any], method: Method, request: Message) -> AsyncIterator[Any]:
    """A server stream for a subscription, while the subscription caps leave it a place."""
    limits: SubscriptionLimits = context["subscriptions"]
    upstream: Upstream = context["upstream"]
    with limits.hold(context["connection"], context["client"]):
        async for message in upstream.stream(method, request, metadata_from(context)):
            yield message


def planning(game_state: GameStateInputType, options: PlannerOptionsInput | None) -> dict[str, Any]:
    """The game state and options of a planning request."""
    return {
        "game_state": to_proto(game_state, game_state_pb2.GameState),
        "options": planning_pb2.PlannerOptions()
        if options is None
        else to_proto(options, planning_pb2.PlannerOptions, path="options"),
    }


def progress_event(message: pb.StreamPlanProgressResponse) -> PlanProgressType:
    """An improvement; or the stored plan, last, with its score and goals and no iteration."""
    if message.WhichOneof("event") == "progress":
        return from_proto(PlanProgressType, message.progress, iteration=message.progress.iteration)
    done = message.done  # a Plan: it has PlanProgress's fields by name, but `elapsed`
    return from_proto(
        PlanProgressType,
        done,
        iteration=None,
        elapsed_ms=done.compute_time.ToNanoseconds() / 1e6,
        plan=from_proto(PlanType, done),
    )


@strawberry.type
class Query:
    @strawberry.field(description="The earlier API: the goals of a plan for this game state.")
    async def calculate_throttle_steps(
        self, info: Info, game_state_input: GameStateInputType, options: PlannerOptionsInput | None = None
    ) -> list[UnitGoalType]:
        request = pb.CalculateThrottleStepsRequest(**planning(game_state_input, options))
        reply = await unary(info.context, lambda stub: stub.CalculateThrottleSteps, request)
        return [from_proto(UnitGoalType, goal) for goal in reply.goals]

    @strawberry.field(description="One stored plan.")
    async def plan(self, info: Info, id: strawberry.ID) -> PlanType:
        return await PlanType.resolve_reference(info, id)

    @strawberry.field(description="Stored plans, newest first.")
    async def plans(self, info: Info, first: int = 20, after: str | None = None) -> PlanPageType:
        request = pb.ListPlansRequest(page_size=first, page_token=after or "")
        reply = await unary(info.context, lambda stub: stub.ListPlans, request)
        return PlanPageType(
            plans=[from_proto(PlanType, p) for p in reply.plans], next_cursor=reply.next_page_token or None
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Plan, store and return the full plan.")
    async def plan(
        self, info: Info, game_state_input: GameStateInputType, options: PlannerOptionsInput | None = None
    ) -> PlanType:
        request = pb.CreatePlanRequest(**planning(game_state_input, options))
        reply = await unary(info.context, lambda stub: stub.CreatePlan, request)
        return from_proto(PlanType, reply.plan)


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
        request = pb.StreamThrottleStepsRequest(
            **planning(game_state_input, options), tick_interval_ms=tick_interval_ms
        )
        async for message in subscribe(info.context, lambda stub: stub.StreamThrottleSteps, request):
            if message.WhichOneof("event") == "tick":
                yield from_proto(UnitGoalType, message.tick.goal)

    @strawberry.subscription(
        description="Each improved plan while planning; the last event carries the stored plan "
        "(`plan`, with `iteration` null)."
    )
    async def plan_progress(
        self, info: Info, game_state_input: GameStateInputType, options: PlannerOptionsInput | None = None
    ) -> AsyncGenerator[PlanProgressType, None]:
        request = pb.StreamPlanProgressRequest(**planning(game_state_input, options))
        async for message in subscribe(info.context, lambda stub: stub.StreamPlanProgress, request):
            yield progress_event(message)
