"""Which units a batch plans (service/batch.py): assignments as given, else nearest enemies."""

from __future__ import annotations

from throttling_sequencer.domain.errors import FieldViolation, InvalidInput
from throttling_sequencer.domain.model import Assignment, Coordinate, GameState, Unit
from throttling_sequencer.service.batch import Roster, Task, tasks


def at(x: float, y: float) -> Unit:
    return Unit(Coordinate(x, y), speed=0.0, mass=10.0, friction=0.1)


BAD = InvalidInput([FieldViolation("game_state.player_units[1].mass", "must be in (0, 1e+12], got -1")])


def test_each_player_unit_gets_its_nearest_valid_enemy_the_lowest_index_among_equals() -> None:
    enemies = (
        at(10, 0),
        InvalidInput([FieldViolation("game_state.enemy_units[1].coordinate", "is required")]),
        at(-10, 0),
        at(0, 3),
    )
    roster = Roster((at(0, 0), BAD, at(-6, 0), at(0, 2.5)), enemies)
    found = tasks(roster, [])
    # Player 0 is as far from enemies 0 and 2: the lower index wins; enemy 1 is never chosen.
    assert [t.assignment for t in found] == [Assignment(0, 3), None, Assignment(2, 2), Assignment(3, 3)]
    assert found[1].work is BAD
    assert found[2] == Task(Assignment(2, 2), GameState((at(-6, 0),), (at(-10, 0),)))


def test_equal_distances_go_to_the_lowest_index() -> None:
    roster = Roster((at(0, 0),), (at(5, 0), at(0, 5), at(-5, 0)))
    assert [t.assignment for t in tasks(roster, [])] == [Assignment(0, 0)]


def test_no_valid_enemy_fails_every_result_by_name_and_says_why() -> None:
    roster = Roster((at(0, 0), at(1, 1)), (BAD, BAD))
    for task in tasks(roster, []):
        assert isinstance(task.work, InvalidInput)
        assert task.work.violations == (
            FieldViolation("game_state.enemy_units", "has no valid unit to plan towards"),
            *BAD.violations,  # the first bad unit's, once
        )


def test_assignments_name_what_is_wrong_with_them() -> None:
    roster = Roster((at(0, 0), BAD), (at(9, 9),))
    found = tasks(roster, [Assignment(0, 0), Assignment(1, 0), Assignment(2, -1)])
    assert found[0].work == GameState((at(0, 0),), (at(9, 9),))
    assert found[1].work is not BAD and isinstance(found[1].work, InvalidInput)
    assert found[1].work.violations == BAD.violations
    assert isinstance(found[2].work, InvalidInput)
    assert [(v.field, v.description) for v in found[2].work.violations] == [
        ("assignments[2].player_index", "must be in [0, 1], got 2"),
        ("assignments[2].enemy_index", "must be in [0, 0], got -1"),
    ]
    assert found[2].unit == "game_state.player_units[2]"
