"""Plain-JSON forms of domain values: the outbox journal's lines and the JSON storage columns.

Nothing here names a plan field: a dataclass becomes an object of its declared fields
(`declaration.declared`), converted by type: nested dataclasses to objects, tuples to arrays,
enums to their values, UUIDs to strings, datetimes to ISO 8601. Reading back, a missing key keeps the
field's default, so lines written before a field existed still read. Two forms are kept for the
lines already on disk: a Score is a positional array, and overrides are the `options` object.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from dataclasses import MISSING, is_dataclass
from datetime import datetime
from typing import Any, Final, TypeVar
from uuid import UUID

from throttling_sequencer.domain.declaration import declared, item_type, non_optional
from throttling_sequencer.domain.model import Plan, PlannerOverrides, Score, Strategy

T = TypeVar("T")
Convert = Callable[[Any], Any]

#: Keys that differ from the field's name (the API's name, kept from the first journal format).
KEYS: Final = {"overrides": "options"}


def to_json(value: Any) -> Any:
    """A domain value (a dataclass, or a tuple of them) as plain JSON."""
    kind: Any = type(value)  # functools.cache types its arguments as Hashable
    return _encoder(kind)(value)


def from_json(cls: type[T], data: Any) -> T:
    kind: Any = cls
    value: T = _decoder(kind)(data)
    return value


def json_form(hint: Any) -> tuple[Convert, Convert]:
    """How values of a type (a dataclass, `tuple[int, ...]`, ...) become plain JSON and back."""
    return _converter(hint, to=True) or _same, _converter(hint, to=False) or _same


def overrides_to_json(overrides: PlannerOverrides) -> dict[str, Any]:
    return overrides.given()


def overrides_from_json(data: dict[str, Any]) -> PlannerOverrides:
    values = dict(data)
    strategy = values.pop("strategy", None)
    return PlannerOverrides(strategy=None if strategy is None else Strategy(strategy), **values)


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The whole plan as plain JSON (the outbox journal's line format)."""
    json: dict[str, Any] = to_json(plan)
    return json


def plan_from_json(data: dict[str, Any]) -> Plan:
    return from_json(Plan, data)


def _score_to_json(score: Score) -> list[float]:
    return [getattr(score, f.name) for f, _ in declared(Score)]


def _score_from_json(data: list[Any]) -> Score:
    return Score(*data)


#: Types with a JSON form of their own (to JSON, from JSON).
_SPECIAL: dict[Any, tuple[Convert, Convert]] = {
    Score: (_score_to_json, _score_from_json),
    PlannerOverrides: (overrides_to_json, overrides_from_json),
}


@functools.cache
def _encoder(cls: type) -> Convert:
    if cls in _SPECIAL:
        return _SPECIAL[cls][0]
    fields = tuple((f.name, KEYS.get(f.name, f.name), _converter(hint, to=True)) for f, hint in declared(cls))

    def encode(value: Any) -> dict[str, Any]:
        out = {}
        for attr, key, convert in fields:
            v = getattr(value, attr)
            out[key] = v if convert is None or v is None else convert(v)
        return out

    return encode


@functools.cache
def _decoder(cls: type) -> Convert:
    if cls in _SPECIAL:
        return _SPECIAL[cls][1]
    fields = tuple(
        (f.name, KEYS.get(f.name, f.name), _converter(hint, to=False), f.default is MISSING)
        for f, hint in declared(cls)
    )

    def decode(data: dict[str, Any]) -> Any:
        values = {}
        for attr, key, convert, required in fields:
            if key in data:
                v = data[key]
                values[attr] = v if convert is None or v is None else convert(v)
            elif required:
                raise KeyError(key)
        return cls(**values)

    return decode


def _converter(hint: Any, *, to: bool) -> Convert | None:
    """Domain value -> JSON (`to`), or back, for one field; None: as it is."""
    hint = non_optional(hint)
    item = item_type(hint)
    if item is not None:
        one = _converter(item, to=to)
        if one is None:
            return list if to else tuple
        if to:
            return lambda values: [one(v) for v in values]
        return lambda values: tuple(one(v) for v in values)
    if hint in _SPECIAL or is_dataclass(hint):
        return _encoder(hint) if to else _decoder(hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return (lambda member: member.value) if to else hint
    if hint is UUID:
        return str if to else UUID
    if hint is datetime:
        return datetime.isoformat if to else datetime.fromisoformat
    if hint in (float, int, str, bool):
        return None
    raise TypeError(f"no JSON form for {hint}")


def _same(value: T) -> T:
    return value
