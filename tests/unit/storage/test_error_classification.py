"""The repository tells database faults that may pass (StorageUnavailable: retry) from data the
database can never take (StorageRejected: set the plan aside). Real drivers' errors are checked
against Postgres and SQLite in tests/integration/test_outbox_service.py; this covers the table."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest
from tortoise.exceptions import IntegrityError, OperationalError, ValidationError

from throttling_sequencer.adapters.storage.tortoise_repository import TortoisePlanRepository
from throttling_sequencer.domain.errors import StorageRejected, StorageUnavailable


def wrapped(outer: Exception, inner: Exception) -> Exception:
    """`outer` raised from `inner`, as Tortoise wraps driver errors."""
    try:
        try:
            raise inner
        except Exception as error:
            raise outer from error
    except Exception as error:
        return error


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (asyncpg.ReadOnlySQLTransactionError("read-only transaction"), StorageUnavailable),
        (asyncpg.ConnectionDoesNotExistError("connection was closed"), StorageUnavailable),
        (asyncpg.InternalClientError("cannot switch to state 15"), StorageUnavailable),
        (ConnectionRefusedError(111, "refused"), StorageUnavailable),
        (wrapped(OperationalError("no table"), asyncpg.UndefinedTableError("no plans")), StorageUnavailable),
        (OperationalError(sqlite3.OperationalError("database is locked")), StorageUnavailable),
        (wrapped(OperationalError("too long"), asyncpg.StringDataRightTruncationError("x")), StorageRejected),
        (wrapped(IntegrityError("null"), asyncpg.NotNullViolationError("x")), StorageRejected),
        (asyncpg.ProgramLimitExceededError("index row size exceeds maximum"), StorageRejected),
        (ValidationError("user_id: Length of 'xxx' 300 > 256"), StorageRejected),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), StorageRejected),
        (wrapped(IntegrityError("x"), sqlite3.IntegrityError("NOT NULL constraint failed")), StorageRejected),
    ],
)
async def test_database_errors_are_classified(error: Exception, kind: type[Exception]) -> None:
    async def failing() -> None:
        raise error

    with pytest.raises(kind):
        await TortoisePlanRepository._guarded(failing)


async def test_other_errors_pass_through() -> None:
    async def failing() -> None:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):
        await TortoisePlanRepository._guarded(failing)
