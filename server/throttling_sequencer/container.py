"""The composition root: the one place that chooses adapters and wires them together (punq)."""

from __future__ import annotations

from typing import Protocol

import punq

from throttling_sequencer.adapters.grpc.servicer import ThrottlingServicer
from throttling_sequencer.adapters.grpc.validation import Limits
from throttling_sequencer.adapters.planners.exact import ExactPlanner
from throttling_sequencer.adapters.planners.genetic import GeneticPlanner
from throttling_sequencer.adapters.planners.random_search import RandomPlanner
from throttling_sequencer.adapters.storage.memory import InMemoryPlanRepository
from throttling_sequencer.adapters.storage.outbox import OutboxRepository
from throttling_sequencer.adapters.storage.status import StorageStatus
from throttling_sequencer.adapters.storage.tortoise_repository import TortoisePlanRepository
from throttling_sequencer.domain.model import Strategy
from throttling_sequencer.domain.ports import Planner, PlanRepository
from throttling_sequencer.service.lanes import FairLane, PlanningLanes
from throttling_sequencer.service.planning import PlanningService
from throttling_sequencer.settings import Settings


class ManagedRepository(PlanRepository, Protocol):
    """A repository with a lifecycle: opened before serving, closed after draining."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...


def make_repository(settings: Settings) -> ManagedRepository:
    url = settings.resolved_database_url
    if url.startswith("memory://"):
        return InMemoryPlanRepository()
    database = TortoisePlanRepository(url)
    if settings.uses_outbox:
        return OutboxRepository(
            database,
            settings.outbox_journal,
            grace=settings.shutdown_grace_seconds,
            workers=settings.workers,
            max_pending=settings.outbox_max_pending,
            max_pending_bytes=settings.outbox_max_pending_bytes,
        )
    return database


def build(settings: Settings) -> punq.Container:
    container = punq.Container()
    container.register(Settings, instance=settings)
    repository = make_repository(settings)
    container.register(ManagedRepository, instance=repository)
    storage = settings.resolved_database_url.split("://", 1)[0]
    outbox = repository if isinstance(repository, OutboxRepository) else None
    container.register(StorageStatus, instance=StorageStatus(storage, outbox))
    lanes = PlanningLanes(
        quick=FairLane(settings.planner_threads, "planner-quick"),
        long=FairLane(settings.long_planner_threads, "planner-long"),
        quick_seconds=settings.quick_plan_ms / 1000.0,
    )
    container.register(PlanningLanes, instance=lanes)
    planners: dict[Strategy, Planner] = {
        Strategy.EXACT: ExactPlanner(),
        Strategy.GENETIC: GeneticPlanner(),
        Strategy.RANDOM: RandomPlanner(),
    }
    container.register(
        PlanningService,
        factory=lambda: PlanningService(
            planners=planners,
            repository=container.resolve(ManagedRepository),
            executor=container.resolve(PlanningLanes),
            default_strategy=Strategy(settings.default_strategy),
            answer_reserve_seconds=settings.answer_reserve_ms / 1000.0,
        ),
        scope=punq.Scope.singleton,
    )
    container.register(
        Limits, instance=Limits(max_units=settings.max_units, max_stream_seconds=settings.max_stream_seconds)
    )
    container.register(
        ThrottlingServicer,
        factory=lambda: ThrottlingServicer(
            container.resolve(PlanningService), container.resolve(Limits), container.resolve(StorageStatus)
        ),
        scope=punq.Scope.singleton,
    )
    return container
