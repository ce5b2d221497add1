"""A Plan as a PlanRecord row and back, column by column from the domain's declaration.

A field goes into the column of its name (COLUMNS: the names kept from the first schema); enums
are stored as their values, composite values (game state, overrides, throttles) in JSON columns
(codec.py). A nested value with no column of its own, such as the score, is spread over a column
per field. A field with no column fails the first conversion (and tests/unit/test_field_tables.py).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, is_dataclass
from typing import Any, Final

from tortoise.fields import JSONField

from throttling_sequencer.adapters.storage import codec
from throttling_sequencer.adapters.storage.models import PlanRecord
from throttling_sequencer.domain.declaration import declared, non_optional
from throttling_sequencer.domain.model import Plan

#: Columns whose names differ from their field's ("score.total" is the score's `total`).
COLUMNS: Final = {"plan_id": "id", "overrides": "options", "score.total": "score_total"}

Convert = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    #: The Plan field it holds, and for a spread value the nested value's field.
    field: str
    inner: str | None
    encode: Convert
    decode: Convert


def to_row(plan: Plan) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for column in columns():
        value = getattr(plan, column.field)
        if column.inner is not None:
            value = getattr(value, column.inner)
        row[column.name] = column.encode(value)
    return row


def from_row(record: PlanRecord) -> Plan:
    values: dict[str, Any] = {}
    spread: dict[str, dict[str, Any]] = {}
    for column in columns():
        value = column.decode(getattr(record, column.name))
        if column.inner is None:
            values[column.field] = value
        else:
            spread.setdefault(column.field, {})[column.inner] = value
    kinds = {f.name: hint for f, hint in declared(Plan)}
    for name, parts in spread.items():
        values[name] = kinds[name](**parts)
    return Plan(**values)


@functools.cache
def updatable() -> tuple[str, ...]:
    """Every column but the key: what storing a plan again overwrites."""
    return tuple(column.name for column in columns() if column.name != COLUMNS["plan_id"])


@functools.cache
def columns() -> tuple[Column, ...]:
    """Every column a Plan fills, in declaration order."""
    return tuple(_columns())


def _columns() -> Iterator[Column]:
    fields = PlanRecord._meta.fields_map
    for f, hint in declared(Plan):
        name = COLUMNS.get(f.name, f.name)
        if name not in fields and is_dataclass(hint):
            for inner, inner_hint in declared(hint):  # type: ignore[arg-type]
                path = f"{f.name}.{inner.name}"
                yield _column(COLUMNS.get(path, inner.name), path, inner_hint, fields)
        else:
            yield _column(name, f.name, hint, fields)


def _column(name: str, path: str, hint: Any, fields: dict[str, Any]) -> Column:
    if name not in fields:
        raise LookupError(f"Plan.{path} has no column {name!r} in {PlanRecord._meta.db_table}")
    field, _, inner = path.partition(".")
    hint = non_optional(hint)  # NULL is None
    encode: Convert = _same
    decode: Convert = _same
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        encode, decode = _value, hint
    elif isinstance(fields[name], JSONField):
        encode, decode = codec.json_form(hint)
    return Column(name, field, inner or None, _or_none(encode), _or_none(decode))


def _or_none(convert: Convert) -> Convert:
    if convert is _same:
        return convert
    return lambda value: None if value is None else convert(value)


def _value(member: enum.Enum) -> Any:
    return member.value


def _same(value: Any) -> Any:
    return value
