"""PlanRepository contract, run against every adapter; SQLite schema, durability and migrate."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import grpc
import pytest
from tortoise import connections
from tortoise.fields import CharField

from failover.lab import Cluster
from tests.conftest import make_settings, new_database
from tests.support import HANG_GUARD_SECONDS, game_state, game_state_pb, within
from throttling.v1 import planning_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer.adapters.storage.group_commit import GroupCommit
from throttling_sequencer.adapters.storage.journal import Journal
from throttling_sequencer.adapters.storage.memory import InMemoryPlanRepository
from throttling_sequencer.adapters.storage.models import PlanRecord
from throttling_sequencer.adapters.storage.outbox import OutboxRepository
from throttling_sequencer.adapters.storage.tortoise_repository import (
    TortoisePlanRepository,
    apply_migrations,
    listing,
)
from throttling_sequencer.app import Application
from throttling_sequencer.domain.errors import PlanNotFound, StorageRejected, StorageUnavailable
from throttling_sequencer.domain.model import (
    Arrival,
    GuidanceSummary,
    Plan,
    PlannerOverrides,
    Score,
    Strategy,
)
from throttling_sequencer.domain.ports import PageCursor, PlanRepository
from throttling_sequencer.request_context import MAX_USER_ID_LENGTH

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def make_plan(created_at: datetime, plan_id: UUID | None = None, user_id: str = "user-7") -> Plan:
    return Plan(
        plan_id=plan_id or uuid4(),
        request_id="req",
        user_id=user_id,
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


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def repository(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[PlanRepository]:
    repo: PlanRepository
    if request.param == "memory":
        repo = InMemoryPlanRepository()
    else:
        if request.param == "sqlite":
            url = f"sqlite://{tmp_path / 'plans.sqlite3'}"
        else:
            url = new_database(request.getfixturevalue("postgres"))
        await apply_migrations(url)
        repo = TortoisePlanRepository(url)
    await repo.open()
    yield repo
    await repo.close()


async def test_a_stored_plan_reads_back_equal(repository: PlanRepository) -> None:
    plan = make_plan(T0)
    await repository.add(plan)
    assert await repository.get(plan.plan_id, owner=None) == plan


async def test_a_missing_plan_is_not_found(repository: PlanRepository) -> None:
    with pytest.raises(PlanNotFound):
        await repository.get(uuid4(), owner=None)


async def test_listing_is_newest_first_and_resumes_after_a_cursor(repository: PlanRepository) -> None:
    # Two plans share a timestamp: the id breaks the tie, so pages never skip or repeat.
    plans = [make_plan(T0 + timedelta(seconds=i // 2)) for i in range(5)]
    for plan in plans:
        await repository.add(plan)
    expected = sorted(plans, key=lambda p: (p.created_at, p.plan_id), reverse=True)
    assert [p.plan_id for p in await repository.list(10, None, owner=None)] == [p.plan_id for p in expected]
    first = await repository.list(2, None, owner=None)
    rest = await repository.list(10, PageCursor(first[-1].created_at, first[-1].plan_id), owner=None)
    assert [p.plan_id for p in first + rest] == [p.plan_id for p in expected]


async def test_a_reader_sees_only_their_own_plans(repository: PlanRepository) -> None:
    alices = [make_plan(T0 + timedelta(seconds=i), user_id="alice") for i in range(0, 6, 2)]
    bobs = [make_plan(T0 + timedelta(seconds=i), user_id="bob") for i in range(1, 6, 2)]
    for plan in alices + bobs:
        await repository.add(plan)
    assert await repository.get(alices[0].plan_id, owner="alice") == alices[0]
    with pytest.raises(PlanNotFound):
        await repository.get(bobs[0].plan_id, owner="alice")
    assert await repository.get(bobs[0].plan_id, owner=None) == bobs[0]
    first = await repository.list(2, None, owner="alice")
    rest = await repository.list(10, PageCursor(first[-1].created_at, first[-1].plan_id), owner="alice")
    assert [p.plan_id for p in first + rest] == [p.plan_id for p in reversed(alices)]
    everyone = await repository.list(10, None, owner=None)
    assert [p.plan_id for p in everyone] == [
        p.plan_id for p in sorted(alices + bobs, key=lambda p: p.created_at)
    ][::-1]


async def test_one_users_listing_uses_the_user_index(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'plans.sqlite3'}"
    await apply_migrations(url)
    repository = TortoisePlanRepository(url)
    await repository.open()
    try:
        query = listing(20, PageCursor(T0, uuid4()), owner="alice")
        database = connections.get("sqlite")
        _, rows = await database.execute_query(f"EXPLAIN QUERY PLAN {query.sql(params_inline=True)}")
    finally:
        await repository.close()
    assert any("plans_user_id_created_at_idx" in row["detail"] for row in rows), rows


def test_the_user_id_column_holds_the_longest_user_id_the_edge_accepts() -> None:
    column = PlanRecord._meta.fields_map["user_id"]
    assert isinstance(column, CharField) and column.max_length == MAX_USER_ID_LENGTH


class Unreachable(InMemoryPlanRepository):
    """A database that refuses every write, so the outbox keeps plans pending."""

    async def add_many(self, plans: list[Plan]) -> None:
        raise StorageUnavailable("the database is away")


async def test_the_outbox_shows_journaled_plans_to_their_owner_only(tmp_path: Path) -> None:
    outbox = OutboxRepository(Unreachable(), tmp_path / "outbox.jsonl", grace=0.0)
    await outbox.open()
    alices, bobs = make_plan(T0, user_id="alice"), make_plan(T0, user_id="bob")
    try:
        for plan in (alices, bobs):
            await outbox.add(plan)
        assert outbox.pending == 2
        assert await outbox.get(alices.plan_id, owner="alice") == alices
        with pytest.raises(PlanNotFound):
            await outbox.get(bobs.plan_id, owner="alice")
        assert [p.plan_id for p in await outbox.list(10, None, owner="alice")] == [alices.plan_id]
        assert len(await outbox.list(10, None, owner=None)) == 2
    finally:
        await outbox.close()


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


async def test_storing_the_same_plan_twice_keeps_one(repository: PlanRepository) -> None:
    plan = make_plan(T0)
    add_many = getattr(repository, "add_many")  # noqa: B009 (both stores have it; the port does not)
    await add_many([plan])
    await add_many([plan, make_plan(T0)])
    assert [p.plan_id for p in await repository.list(10, None, owner=None)].count(plan.plan_id) == 1


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
async def test_a_write_stores_all_of_its_plans_or_none(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """One transaction per write (what group commit relies on): a plan the database refuses takes
    the plans written with it down too, and nothing is half stored."""
    url = (
        f"sqlite://{tmp_path / 'plans.sqlite3'}"
        if engine == "sqlite"
        else new_database(request.getfixturevalue("postgres"))
    )
    await apply_migrations(url)
    repository = TortoisePlanRepository(url)
    await repository.open()
    try:
        good = make_plan(T0)
        if engine == "sqlite":  # NaN is NULL to SQLite: the NOT NULL score refuses it
            bad = replace(make_plan(T0), score=Score(float("nan"), 0.0, 0.0, 3, 2))
        else:  # longer than the user_id column
            bad = make_plan(T0, user_id="u" * (MAX_USER_ID_LENGTH + 1))
        with pytest.raises(StorageRejected):
            await repository.add_many([good, bad])
        with pytest.raises(PlanNotFound):
            await repository.get(good.plan_id, owner=None)
        await repository.add_many([good])
        assert await repository.get(good.plan_id, owner=None) == good
    finally:
        await repository.close()


async def test_a_plan_stored_again_keeps_its_newest_version(repository: PlanRepository) -> None:
    """A guidance session stores its plan at the start and again, with its summary, at the end."""
    plan = make_plan(T0)
    await repository.add(plan)
    summarised = replace(plan, guidance=GuidanceSummary(61, 3, -0.25, 4.5, 0.125, True))
    await repository.add(summarised)
    assert await repository.get(plan.plan_id, owner=None) == summarised
    newer = replace(summarised, guidance=replace(summarised.guidance, ticks=62))  # type: ignore[type-var]
    await repository.add_many([newer, make_plan(T0)])
    assert await repository.get(plan.plan_id, owner=None) == newer
    assert [p.plan_id for p in await repository.list(10, None, owner=None)].count(plan.plan_id) == 1


async def schema_of(url: str) -> dict[str, object]:
    """Columns (name, nullable) and index columns of the plans table, however the engine names them."""
    from tortoise import Tortoise, connections

    from throttling_sequencer.adapters.storage.tortoise_repository import tortoise_config

    await Tortoise.init(config=tortoise_config(url))
    try:
        db = connections.get(url.split("://", 1)[0])
        if url.startswith("sqlite"):
            _, columns = await db.execute_query("PRAGMA table_info(plans)")
            cols = {(c["name"], not c["notnull"]) for c in columns}
            _, indexes = await db.execute_query("PRAGMA index_list(plans)")
            index_columns = {}
            for index in indexes:
                _, info = await db.execute_query(f"PRAGMA index_info('{index['name']}')")
                index_columns[index["name"]] = tuple(i["name"] for i in info)
        else:
            _, columns = await db.execute_query(
                "SELECT column_name, is_nullable FROM information_schema.columns WHERE table_name = 'plans'"
            )
            cols = {(c["column_name"], c["is_nullable"] == "YES") for c in columns}
            _, indexes = await db.execute_query(
                "SELECT i.relname AS name, array_agg(a.attname ORDER BY k.n) AS cols FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
                "CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, n) "
                "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
                "WHERE t.relname = 'plans' AND NOT x.indisprimary GROUP BY i.relname"
            )
            index_columns = {i["name"]: tuple(i["cols"]) for i in indexes}
    finally:
        await Tortoise.close_connections()
    named = {name: columns for name, columns in index_columns.items() if name.startswith("plans_")}
    return {"columns": cols, "indexes": named}


async def test_migrations_give_sqlite_and_postgres_the_same_schema(postgres: Cluster, tmp_path: Path) -> None:
    sqlite_url, postgres_url = f"sqlite://{tmp_path / 'schema.sqlite3'}", new_database(postgres)
    for url in (sqlite_url, postgres_url):
        await apply_migrations(url)
    sqlite, pg = await schema_of(sqlite_url), await schema_of(postgres_url)
    assert sqlite == pg
    assert pg["indexes"] == {
        "plans_created_at_id_idx": ("created_at", "id"),
        "plans_user_id_created_at_idx": ("user_id", "created_at"),
    }


async def test_a_plan_answered_while_postgres_is_down_survives_a_server_restart(
    postgres: Cluster, tmp_path: Path
) -> None:
    url = new_database(postgres)
    await apply_migrations(url)
    settings = make_settings(
        database_url=url, data_dir=tmp_path / "data", outbox="on", shutdown_grace_seconds=0.5
    )
    request = pb.CreatePlanRequest(game_state=game_state_pb())
    await asyncio.to_thread(postgres.stop)
    try:
        first = Application(settings)
        await first.start()  # the database is away: the server starts and answers anyway
        async with grpc.aio.insecure_channel(f"127.0.0.1:{first.port}") as channel:
            call = ThrottlingServiceStub(channel).CreatePlan(request, timeout=HANG_GUARD_SECONDS)
            answered = (await call).plan  # journaled and answered, not waiting for the database
        await first.stop()  # cannot flush: the plan stays journaled
        assert UUID(answered.plan_id) in [p.plan_id for p in Journal(tmp_path / "data" / "outbox-0").read()]
    finally:
        await asyncio.to_thread(postgres.start)

    second = Application(settings)
    await second.start()  # replays the journal into the database
    grouped = second.container.resolve(PlanRepository)
    assert isinstance(grouped, GroupCommit)
    outbox = grouped.store
    assert isinstance(outbox, OutboxRepository)
    await within(outbox.drained(), "the replayed journal to reach the database")
    await second.stop()
    repository = TortoisePlanRepository(url)
    await repository.open()
    try:
        stored = await repository.get(UUID(answered.plan_id), owner=None)
    finally:
        await repository.close()
    assert stored.throttles == tuple(g.throttle for g in answered.goals)
