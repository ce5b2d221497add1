"""The servicer acts for the caller the request boundary hands it, and for no one else."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from tests.support import game_state
from throttling.v1 import throttling_service_pb2 as pb
from throttling_sequencer import request_context
from throttling_sequencer.adapters.grpc.caller import CallerContext, MissingRequestBoundary
from throttling_sequencer.adapters.grpc.servicer import ThrottlingServicer
from throttling_sequencer.adapters.grpc.validation import Limits
from throttling_sequencer.adapters.planners.random_search import RandomPlanner
from throttling_sequencer.adapters.storage.memory import InMemoryPlanRepository
from throttling_sequencer.domain.model import Arrival, Plan, PlannerOverrides, Score, Strategy
from throttling_sequencer.service.guidance import GuidanceService
from throttling_sequencer.service.planning import CallContext, PlanningService


class GrpcContext:
    """Stands in for grpc.aio's servicer context (the servicer only asks it for the time left)."""

    def time_remaining(self) -> float | None:
        return None


def stored(user_id: str) -> Plan:
    return Plan(
        plan_id=uuid4(),
        request_id="r",
        user_id=user_id,
        created_at=datetime.now(UTC),
        strategy=Strategy.RANDOM,
        game_state=game_state(),
        overrides=PlannerOverrides(),
        throttles=(1,),
        score=Score(1.0, 1.0, 0.0, 1, 1),
        final_speed=0.0,
        target_distance=1.0,
        distance_covered=0.0,
        compute_seconds=0.0,
        arrival=Arrival.OFF_TARGET,
    )


@pytest.fixture
def servicer() -> Iterator[tuple[ThrottlingServicer, InMemoryPlanRepository]]:
    repository = InMemoryPlanRepository()
    with ThreadPoolExecutor(1) as pool:
        planning = PlanningService({Strategy.RANDOM: RandomPlanner()}, repository, pool)
        guidance = GuidanceService(planning, repository)
        yield ThrottlingServicer(planning, guidance, Limits()), repository


async def test_the_servicer_reads_the_caller_it_is_handed_not_the_logging_context(
    servicer: tuple[ThrottlingServicer, InMemoryPlanRepository],
) -> None:
    service, repository = servicer
    for user in ("alice", "bob"):
        await repository.add(stored(user))
    # What log lines see says "administrator"; the caller handed over says alice.
    token = request_context.current.set(CallContext("r", "root", admin=True))
    try:
        context: Any = CallerContext(GrpcContext(), CallContext("r", "alice"))  # type: ignore[arg-type]
        listed = await service.ListPlans(pb.ListPlansRequest(), context)
    finally:
        request_context.current.reset(token)
    assert [p.user_id for p in listed.plans] == ["alice"]


@pytest.mark.parametrize(
    ("method", "request_message"),
    [
        ("ListPlans", pb.ListPlansRequest()),
        ("GetPlan", pb.GetPlanRequest(plan_id=str(uuid4()))),
        ("GetStatus", pb.GetStatusRequest()),
        ("CreatePlan", pb.CreatePlanRequest()),
    ],
)
async def test_without_the_request_boundary_every_call_fails_loudly(
    servicer: tuple[ThrottlingServicer, InMemoryPlanRepository], method: str, request_message: Any
) -> None:
    service, repository = servicer
    await repository.add(stored("anonymous"))
    context: Any = GrpcContext()
    with pytest.raises(MissingRequestBoundary, match="RequestBoundary"):
        await getattr(service, method)(request_message, context)
