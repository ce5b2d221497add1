"""PlanRepository contract, run against every adapter; SQLite schema, durability and migrate."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import grpc
import pytest

from tests.conftest import make_settings
from tests.support import game_state, game_state_pb
from throttling.v1 import planning_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer.adapters.storage.memory import InMemoryPlanRepository
from throttling_sequencer.adapters.storage.tortoise_repository import TortoisePlanRepository, apply_migrations
from throttling_sequencer.app import Application
from throttling_sequencer.container import ManagedRepository
from throttling_sequencer.domain.errors import PlanNotFound
from throttling_sequencer.domain.model import Arrival, Plan, PlannerOverrides, Score, Strategy
from throttling_sequencer.domain.ports import PageCursor

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def make_plan(created_at: datetime, plan_id: UUID | None = None) -> Plan:
    return Plan(
        plan_id=plan_id or uuid4(),
        request_id="req",
        user_id="user-7",
        created_at=created_at,
        strategy=Strategy.RANDOM,
        game_state=game_state(distance=1234.5, speed=1.5, mass=3.25, friction=0.125),
        overrides=PlannerOverrides(strategy=Strategy.RANDOM, max_ticks=9, speed_weight=0.75, seed=2**63),
        throttles=(300, 0, 17),
        score=Score(1.5, 0.25, 2.0, 3, 2),
        final_speed=4.5,
        target_distance=1234.5,
        distance_covered=1234.25,
        compute_seconds=0.0123,
        arrival=Arrival.TOO_FAST,
        lower_bound=1.25,
    )


@pytest.fixture(params=["memory", "sqlite"])
async def repository(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ManagedRepository]:
    repo: ManagedRepository
    if request.param == "memory":
        repo = InMemoryPlanRepository()
    else:
        url = f"sqlite://{tmp_path / 'plans.sqlite3'}"
        await apply_migrations(url)
        repo = TortoisePlanRepository(url)
    await repo.open()
    yield repo
    await repo.close()


async def test_a_stored_plan_reads_back_equal(repository: ManagedRepository) -> None:
    plan = make_plan(T0)
    await repository.add(plan)
    assert await repository.get(plan.plan_id) == plan


async def test_a_missing_plan_is_not_found(repository: ManagedRepository) -> None:
    with pytest.raises(PlanNotFound):
        await repository.get(uuid4())


async def test_listing_is_newest_first_and_resumes_after_a_cursor(repository: ManagedRepository) -> None:
    # Two plans share a timestamp: the id breaks the tie, so pages never skip or repeat.
    plans = [make_plan(T0 + timedelta(seconds=i // 2)) for i in range(5)]
    for plan in plans:
        await repository.add(plan)
    expected = sorted(plans, key=lambda p: (p.created_at, p.plan_id), reverse=True)
    assert [p.plan_id for p in await repository.list(10, None)] == [p.plan_id for p in expected]
    first = await repository.list(2, None)
    rest = await repository.list(10, PageCursor(first[-1].created_at, first[-1].plan_id))
    assert [p.plan_id for p in first + rest] == [p.plan_id for p in expected]


def test_migrations_create_the_listing_indexes(tmp_path: Path) -> None:
    db = tmp_path / "schema.sqlite3"
    subprocess.run(
        [sys.executable, "-m", "throttling_sequencer.cli", "migrate"],
        env={**os.environ, "THROTTLING_DATABASE_URL": f"sqlite://{db}"},
        check=True,
        capture_output=True,
        timeout=60,
    )
    with sqlite3.connect(db) as connection:
        indexes = {
            name: sql
            for name, sql in connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'")
        }
    assert "created_at" in indexes["plans_created_at_id_idx"]
    assert "user_id" in indexes["plans_user_id_created_at_idx"]


async def test_plans_survive_a_server_restart_on_sqlite(tmp_path: Path) -> None:
    settings = make_settings(database_url="", data_dir=tmp_path / "data")
    request = pb.CreatePlanRequest(
        game_state=game_state_pb(), options=planning_pb2.PlannerOptions(strategy=planning_pb2.STRATEGY_RANDOM)
    )
    first = Application(settings)
    await first.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{first.port}") as channel:
        created = (await ThrottlingServiceStub(channel).CreatePlan(request)).plan
    await first.stop()
    assert (tmp_path / "data" / "throttling.sqlite3").exists()

    second = Application(settings)
    await second.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{second.port}") as channel:
            stub = ThrottlingServiceStub(channel)
            fetched = (await stub.GetPlan(pb.GetPlanRequest(plan_id=created.plan_id))).plan
            listed = (await stub.ListPlans(pb.ListPlansRequest())).plans
    finally:
        await second.stop()
    assert fetched == created
    assert [p.plan_id for p in listed] == [created.plan_id]
