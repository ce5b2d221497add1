"""PlanRepository on Tortoise ORM: SQLite (the embedded default) or Postgres via asyncpg."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import (
    BaseORMException,
    DBConnectionError,
    DoesNotExist,
    IntegrityError,
    ValidationError,
)
from tortoise.expressions import Q
from tortoise.fields import Field
from tortoise.migrations.api import migrate
from tortoise.queryset import QuerySet

from throttling_sequencer.adapters.storage import rows
from throttling_sequencer.adapters.storage.models import PlanRecord
from throttling_sequencer.domain.errors import PlanNotFound, StorageRejected, StorageUnavailable
from throttling_sequencer.domain.model import Plan
from throttling_sequencer.domain.ports import PageCursor, StorageStatus

APP = "plans"
MODELS_MODULE = "throttling_sequencer.adapters.storage.models"
MIGRATIONS_MODULE = "throttling_sequencer.adapters.storage.migrations"

T = TypeVar("T")
_tracer = trace.get_tracer(__name__)


def engine(database_url: str) -> str:
    """The engine the URL names, sqlite or postgres: its scheme (Settings.storage_kind vetted it)."""
    return database_url.split("://", 1)[0]


def tortoise_config(database_url: str) -> dict[str, Any]:
    # Tortoise caches generated SQL per connection *name* for the whole process: naming the
    # connection after its engine keeps SQLite's SQL from being reused on Postgres.
    name = engine(database_url)
    return {
        "connections": {name: database_url},
        "apps": {
            APP: {
                "models": [MODELS_MODULE],
                "migrations": MIGRATIONS_MODULE,
                "default_connection": name,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def apply_migrations(database_url: str) -> None:
    """Bring the database schema up to date (idempotent)."""
    await migrate(config=tortoise_config(database_url))
    await Tortoise.close_connections()


class TortoisePlanRepository:
    """Plans in a Tortoise database; `open()` before use, `close()` on shutdown.

    Tortoise keeps one context per process; the global fallback lets grpc.aio's per-RPC tasks,
    which do not inherit the opener's context variables, reach it.
    """

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self._kind = engine(database_url)

    async def open(self) -> None:
        await self._guard(
            lambda: Tortoise.init(config=tortoise_config(self._database_url), _enable_global_fallback=True),
            "connect",
        )

    async def close(self) -> None:
        await Tortoise.close_connections()

    async def reconnect(self) -> None:
        """Re-dial pooled connections (e.g. to a former writer after a failover): idle ones at their
        next use, busy ones when released. Queries in flight are left alone; closing the pool
        instead waits for them (up to 10 s, stalling the caller) and then cuts them off."""
        await self._guard(_expire_pooled_connections, "reconnect")

    def status(self) -> StorageStatus:
        return StorageStatus(self._kind)

    async def add(self, plan: Plan) -> None:
        await self.add_many([plan])

    async def add_many(self, plans: list[Plan]) -> None:
        """Insert plans in one transaction (one statement run for every row: the backend wraps it
        in BEGIN ... COMMIT); one already stored (same id) is replaced by the version given, so
        retries are harmless and a plan stored again (with its guidance summary) keeps its newest
        version.

        What `PlanRecord.bulk_create(..., on_conflict=["id"], update_fields=...)` would run,
        without building a model instance per row and the statement per call: rows become column
        values as the fields convert them, for a statement built once per connection.
        """

        async def insert() -> None:
            connection = connections.get(self._kind)
            statement = _insert_statement(connection)
            # Converting validates too (a value too long for its column): inside the guard, so
            # that is StorageRejected like any refusal of the database's.
            values = [
                [field.to_db_value(row[name], PlanRecord) for name, field in statement.fields]
                for row in map(rows.to_row, plans)
            ]
            await connection.execute_many(statement.sql, values)

        await self._guard(insert, "INSERT plans")

    async def get(self, plan_id: UUID, *, owner: str | None) -> Plan:
        match = {"id": plan_id} if owner is None else {"id": plan_id, "user_id": owner}
        try:
            record = await self._guard(lambda: PlanRecord.get(**match), "SELECT plans")
        except DoesNotExist:
            raise PlanNotFound(str(plan_id)) from None
        return rows.from_row(record)

    async def list(self, limit: int, after: PageCursor | None, *, owner: str | None) -> list[Plan]:
        records = await self._guard(lambda: listing(limit, after, owner), "SELECT plans")
        return [rows.from_row(r) for r in records]

    async def _guard(self, operation: Callable[[], Awaitable[T]], statement: str) -> T:
        """One database call: a client span, and faults turned into StorageUnavailable (retry) or
        StorageRejected (this data can never be written); a missing row stays DoesNotExist."""
        system = "postgresql" if self._kind == "postgres" else self._kind
        with _tracer.start_as_current_span(
            f"{system} {statement}",
            kind=SpanKind.CLIENT,
            attributes={"db.system": system, "db.statement": statement},
        ):
            return await self._guarded(operation)

    @staticmethod
    async def _guarded(operation: Callable[[], Awaitable[T]]) -> T:
        try:
            return await operation()
        except DoesNotExist:
            raise
        except Exception as error:
            if _is_permanent(error):
                raise StorageRejected(
                    f"plan store refused the data: {error}", error=type(error).__name__
                ) from error
            if isinstance(error, TRANSIENT):
                # A read-only former writer (SQLSTATE 25006) lands here too: transient, like an outage.
                # So does InternalClientError ("cannot switch to state 15; another operation (2) is in
                # progress"): pgbouncer announced a lost server while the connection sat between two
                # statements, and asyncpg refuses the next one. The connection is dead, not shared.
                raise StorageUnavailable(
                    f"plan store unavailable: {error}", error=type(error).__name__
                ) from error
            raise


#: Faults of the database or the way to it: the same write may succeed later.
TRANSIENT = (
    BaseORMException,
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    sqlite3.Error,
)
#: SQLSTATE classes that depend on the row written: data exception, integrity constraint violation,
#: program limit exceeded (e.g. an index row too large). Anything else, such as a missing table or
#: a read-only node, is about the database and worth retrying.
PERMANENT_SQLSTATE_CLASSES = ("22", "23", "54")


def _is_permanent(error: BaseException) -> bool:
    """Whether this write can never succeed as it is (the driver's error may be wrapped by Tortoise)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(
            seen, OSError | asyncpg.InterfaceError | asyncpg.InternalClientError | DBConnectionError
        ):
            return False
        if isinstance(seen, ValidationError | IntegrityError | sqlite3.IntegrityError | sqlite3.DataError):
            return True
        if isinstance(seen, UnicodeError | OverflowError):  # a value the driver cannot encode
            return True
        if isinstance(seen, asyncpg.PostgresError):
            return str(getattr(seen, "sqlstate", "") or "")[:2] in PERMANENT_SQLSTATE_CLASSES
        seen = seen.__cause__ or seen.__context__
    return False


@dataclass(frozen=True, slots=True)
class _Insert:
    """INSERT ... ON CONFLICT DO NOTHING of every PlanRecord column, in one dialect."""

    sql: str
    #: (field name, field) per column, in the statement's order.
    fields: tuple[tuple[str, Field[Any]], ...]


_inserts: dict[tuple[str, type], _Insert] = {}


def _insert_statement(connection: BaseDBAsyncClient) -> _Insert:
    """The plans' insert for this connection's dialect, built once (as bulk_create builds it)."""
    key = (connection.connection_name, type(connection))
    found = _inserts.get(key)
    if found is None:
        meta = PlanRecord._meta
        names = [name for name in meta.fields_db_projection if not meta.fields_map[name].generated]
        executor = connection.executor_class(model=PlanRecord, db=connection)
        query = (
            connection.query_class.into(meta.basetable)
            .columns(*(meta.fields_db_projection[name] for name in names))
            .insert(*(executor.parameter(i) for i in range(len(names))))
            .on_conflict(rows.COLUMNS["plan_id"])
        )
        for column in rows.updatable():
            query = query.do_update(column)
        found = _Insert(query.get_sql(), tuple((name, meta.fields_map[name]) for name in names))
        _inserts[key] = found
    return found


def listing(limit: int, after: PageCursor | None, owner: str | None) -> QuerySet[PlanRecord]:
    """Newest first after the cursor; one user's plans come off the (user_id, created_at) index,
    everyone's off (created_at, id)."""
    query = PlanRecord.all() if owner is None else PlanRecord.filter(user_id=owner)
    if after is not None:
        query = query.filter(
            Q(created_at__lt=after.created_at) | Q(created_at=after.created_at, id__lt=after.plan_id)
        )
    return query.order_by("-created_at", "-id").limit(limit)


async def _expire_pooled_connections() -> None:
    for client in connections.all():
        expire: Callable[[], Awaitable[None]] | None = getattr(client, "_expire_connections", None)
        if expire is not None:  # asyncpg pools; SQLite has nothing to re-dial
            await expire()
