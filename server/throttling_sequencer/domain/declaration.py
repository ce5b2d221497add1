"""Reading the domain's declaration: a dataclass's fields, their types, and the metadata that
tells the adapters' mappers how the public API shows them (see model.py)."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, Final

#: Field metadata key: the field's name in the public API when it differs, or None when the API
#: does not show the field itself (only values derived from it).
API_NAME: Final = "api_name"


def shown_as(name: str | None) -> Mapping[str, str | None]:
    """Metadata of a field the public API shows under another name (None: not shown as such)."""
    return {API_NAME: name}


def api_name(f: dataclasses.Field[Any]) -> str | None:
    """The public API's name of a field (its own unless `shown_as` says otherwise)."""
    name: str | None = f.metadata.get(API_NAME, f.name)
    return name


@functools.cache
def declared(cls: type) -> tuple[tuple[dataclasses.Field[Any], Any], ...]:
    """A dataclass's fields with their resolved types, in declaration order."""
    hints = typing.get_type_hints(cls)
    return tuple((f, hints[f.name]) for f in dataclasses.fields(cls))


def non_optional(hint: Any) -> Any:
    """`X | None` -> X (None stands for "not given" in every form); any other hint as it is."""
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    return hint


def item_type(hint: Any) -> Any:
    """`tuple[X, ...]` -> X; None for anything else."""
    if typing.get_origin(hint) is not tuple:
        return None
    (item,) = [arg for arg in typing.get_args(hint) if arg is not Ellipsis]
    return item


def derived(cls: type) -> tuple[tuple[str, Any], ...]:
    """The derived values (properties) a class lists in DERIVED, with their types."""
    names: tuple[str, ...] = getattr(cls, "DERIVED", ())
    return tuple((name, typing.get_type_hints(getattr(cls, name).fget)["return"]) for name in names)
