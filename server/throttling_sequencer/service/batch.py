"""Batch planning's rules: which units a batch plans, and what each of its results is.

A batch names units of one game state by index: each assignment moves a player unit towards an
enemy unit, and no assignments means every player unit towards its nearest enemy unit. The edge
validates the game state unit by unit (a Roster): a unit that breaks a rule fails only the
results that name it, never the batch. Each result is planned as a game state of its two units,
exactly as CreatePlan would plan that game state, so a batch and single plans agree unit for unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from throttling_sequencer.domain.errors import FieldViolation, InvalidInput, ThrottlingError
from throttling_sequencer.domain.model import Assignment, GameState, Plan, Unit

#: A unit as the edge found it: valid, or the violations that name it.
Checked = Unit | InvalidInput


@dataclass(frozen=True, slots=True)
class Roster:
    """A batch's game state, unit by unit as the edge validated it."""

    player_units: tuple[Checked, ...]
    enemy_units: tuple[Checked, ...]


@dataclass(frozen=True, slots=True)
class Task:
    """One result of a batch to be: the game state of its two units, or why it cannot be planned.

    `assignment` is None only when there is none to report: no assignments were given and the
    player unit is itself invalid, so no nearest enemy was chosen for it.
    """

    assignment: Assignment | None
    work: GameState | InvalidInput

    @property
    def unit(self) -> str:
        """The request path of the planned unit, for violations found while planning it."""
        index = 0 if self.assignment is None else self.assignment.player_index
        return f"game_state.player_units[{index}]"


@dataclass(frozen=True, slots=True)
class BatchResult:
    """One result, in request order: the stored plan, or why this unit has none."""

    assignment: Assignment | None
    outcome: Plan | ThrottlingError


def tasks(roster: Roster, assignments: Sequence[Assignment]) -> list[Task]:
    """The batch's results to be, in request order: one per assignment, or one per player unit
    (towards its nearest valid enemy unit) when there are none."""
    if assignments:
        return [_assigned(roster, k, a) for k, a in enumerate(assignments)]
    valid = {j: unit for j, unit in enumerate(roster.enemy_units) if isinstance(unit, Unit)}
    players = {i: unit for i, unit in enumerate(roster.player_units) if isinstance(unit, Unit)}
    targets = dict(zip(players, nearest(list(players.values()), valid), strict=True)) if valid else {}
    nowhere = InvalidInput(_no_valid_enemy(roster.enemy_units))
    out = []
    for i, player in enumerate(roster.player_units):
        if isinstance(player, InvalidInput):
            out.append(Task(None, player))
        elif not valid:
            out.append(Task(None, nowhere))
        else:
            j = targets[i]
            out.append(Task(Assignment(i, j), GameState((player,), (valid[j],))))
    return out


def _no_valid_enemy(enemies: tuple[Checked, ...]) -> list[FieldViolation]:
    """Why no unit can be planned: no valid enemy unit, and what is wrong with the first of them
    (each result says so: all of them, for every result, could make the answer too large)."""
    first = next((unit for unit in enemies if isinstance(unit, InvalidInput)), None)
    found = [] if first is None else list(first.violations)
    return [FieldViolation("game_state.enemy_units", "has no valid unit to plan towards"), *found]


def nearest(units: list[Unit], enemies: dict[int, Unit]) -> list[int]:
    """For each unit, the index of its nearest enemy unit (the lowest index among equals:
    `enemies` holds them in ascending order, and argmin takes the first of equals).

    All pairs at once (numpy): a thousand units by a thousand enemies take milliseconds, where a
    loop of Python would hold the event loop for half a second.
    """
    if not units or not enemies:
        return []
    indexes = np.fromiter(enemies, dtype=np.int64, count=len(enemies))
    ex = np.array([e.coordinate.x for e in enemies.values()])
    ey = np.array([e.coordinate.y for e in enemies.values()])
    ux = np.array([u.coordinate.x for u in units])[:, None]
    uy = np.array([u.coordinate.y for u in units])[:, None]
    distances = np.hypot(ex - ux, ey - uy)  # one row per unit
    return [int(j) for j in indexes[np.argmin(distances, axis=1)]]


def _assigned(roster: Roster, k: int, assignment: Assignment) -> Task:
    violations: list[FieldViolation] = []
    player = _unit(roster.player_units, assignment.player_index, f"assignments[{k}].player_index", violations)
    enemy = _unit(roster.enemy_units, assignment.enemy_index, f"assignments[{k}].enemy_index", violations)
    if player is None or enemy is None:
        return Task(assignment, InvalidInput(violations))
    return Task(assignment, GameState((player,), (enemy,)))


def _unit(side: tuple[Checked, ...], index: int, path: str, violations: list[FieldViolation]) -> Unit | None:
    """The valid unit at `index`, else None with what is wrong added to `violations`."""
    if not 0 <= index < len(side):
        violations.append(FieldViolation(path, f"must be in [0, {len(side) - 1}], got {index}"))
        return None
    unit = side[index]
    if isinstance(unit, InvalidInput):
        violations.extend(unit.violations)
        return None
    return unit
