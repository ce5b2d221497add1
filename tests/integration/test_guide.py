"""Guide, the closed-loop guidance stream, through a real server: steering, the protocol's order,
bad input, the caller's deadline and cancellation, the stored summary, logs and metrics."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import UUID

import grpc
import pytest

from tests.conftest import make_settings
from tests.guided import EOF, Push, SimulatedUnit, guide, start
from tests.rpc_errors import error_info, field_violations
from tests.support import HANG_GUARD_SECONDS, game_state_pb, serving, wait_for
from throttling.v1 import game_state_pb2, planning_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer import metrics
from throttling_sequencer.app import Application
from throttling_sequencer.domain.ports import PlanRepository

#: No idle timeout within a test's patience: a session that ends did so for the reason tested.
NEVER_IDLE = 3600.0


@pytest.fixture(scope="module")
async def served() -> AsyncIterator[tuple[Application, ThrottlingServiceStub]]:
    async with serving(make_settings(guide_idle_seconds=NEVER_IDLE)) as both:
        yield both


@pytest.fixture(scope="module")
def server(served: tuple[Application, ThrottlingServiceStub]) -> Application:
    return served[0]


@pytest.fixture(scope="module")
def stub(served: tuple[Application, ThrottlingServiceStub]) -> ThrottlingServiceStub:
    return served[1]


def state(distance: float = 3000.0, friction: float = 0.1) -> game_state_pb2.GameState:
    """A unit 3000 away on a diagonal (not along an axis), with room to steer."""
    moved = game_state_pb(distance=distance, mass=10.0, friction=friction)
    moved.enemy_units[0].coordinate.CopyFrom(
        game_state_pb2.Coordinate(x=distance * 0.6 + 100.0, y=distance * 0.8 - 50.0)
    )
    moved.player_units[0].coordinate.CopyFrom(game_state_pb2.Coordinate(x=100.0, y=-50.0))
    return moved


async def stored(server: Application, plan_id: str) -> Any:
    repository: PlanRepository = server.container.resolve(PlanRepository)
    return await repository.get(UUID(plan_id), owner=None)


async def summary_of(server: Application, plan_id: str) -> Any:
    """The stored summary, once the session's end has stored it (the server ends the call first)."""

    async def summarised() -> bool:
        return (await stored(server, plan_id)).guidance is not None

    await wait_for(summarised, f"plan {plan_id} to be stored with its guidance summary")
    return (await stored(server, plan_id)).guidance


async def test_an_undisturbed_unit_follows_the_plan_as_predicted(
    server: Application, stub: ThrottlingServiceStub
) -> None:
    game = state()
    unit = SimulatedUnit(game)
    answers = await guide(stub, start(game), unit)
    assert [a.tick for a in answers] == list(range(1, len(answers) + 1))
    assert [a.done for a in answers] == [False] * (len(answers) - 1) + [True]
    assert not any(a.replanned for a in answers)
    assert len({a.plan_id for a in answers}) == 1
    plan = await stored(server, answers[0].plan_id)
    assert [a.throttle for a in answers] == list(plan.throttles)
    replay = SimulatedUnit(game)
    for answer in answers:
        replay.step(answer.throttle)
        assert answer.speed == pytest.approx(replay.speed, abs=1e-9)
        assert answer.distance_remaining == pytest.approx(replay.remaining, abs=1e-6)
    assert abs(unit.remaining) <= 1e-3 and unit.speed <= 5.0
    assert answers[-1].estimated_friction == pytest.approx(0.1)
    summary = await summary_of(server, answers[0].plan_id)
    assert (summary.ticks, summary.replans, summary.completed) == (len(answers), 0, True)


async def test_a_unit_with_the_wrong_friction_and_a_push_is_steered_home(
    server: Application, stub: ThrottlingServiceStub, log_records: list[Any]
) -> None:
    game = state()
    replans_before = metrics.GUIDE_REPLANS._value.get()
    ticks_before = _tick_count()
    unit = SimulatedUnit(game, friction=0.12, push=Push(tick=12, speed=2.5, shove=-3.0))
    answers = await guide(stub, start(game), unit)
    replanned = [a.tick for a in answers if a.replanned]
    assert 2 in replanned and 13 in replanned  # after the first surprise, and after the push
    assert answers[-1].estimated_friction == pytest.approx(0.12)
    assert abs(unit.remaining) <= 1.0 and unit.speed <= 5.0 + 1.0
    # The same disturbances open-loop: the stored plan followed blindly misses by far.
    plan = await stored(server, answers[0].plan_id)
    blind = SimulatedUnit(game, friction=0.12, push=Push(tick=12, speed=2.5, shove=-3.0))
    for throttle in plan.throttles:
        blind.step(throttle)
    assert abs(blind.remaining) > 100.0
    summary = await summary_of(server, answers[0].plan_id)
    assert (summary.ticks, summary.replans, summary.completed) == (len(answers), len(replanned), True)
    assert summary.final_miss == pytest.approx(unit.remaining, abs=1e-6)
    assert summary.final_speed == pytest.approx(unit.speed)
    assert summary.estimated_friction == pytest.approx(0.12)
    logged = [r["extra"] for r in log_records if r["message"] == "guided"]
    assert logged and logged[-1]["ticks"] == len(answers) and logged[-1]["replans"] == len(replanned)
    assert metrics.GUIDE_REPLANS._value.get() - replans_before == len(replanned)
    assert _tick_count() - ticks_before == len(answers) - 1  # every answer to an observation


def _tick_count() -> float:
    return sum(
        sample.value
        for family in metrics.GUIDE_TICK_SECONDS.collect()
        for sample in family.samples
        if sample.name.endswith("_count")
    )


async def test_a_unit_pushed_past_the_target_is_told_to_coast_and_the_session_ends(
    server: Application, stub: ThrottlingServiceStub
) -> None:
    game = state(distance=600.0)
    unit = SimulatedUnit(game, push=Push(tick=3, shove=700.0))
    answers = await guide(stub, start(game), unit)
    last = answers[-1]
    assert (last.tick, last.throttle, last.done, last.replanned) == (4, 0, True, True)
    assert last.arrival == planning_pb2.ARRIVAL_OVERSHOOT_UNAVOIDABLE
    assert last.distance_remaining < 0


async def test_a_stopped_unit_is_pushed_off_again(server: Application, stub: ThrottlingServiceStub) -> None:
    game = state(distance=1500.0)
    unit = SimulatedUnit(game, push=Push(tick=6, speed=-1e9))  # a wall: speed 0
    answers = await guide(stub, start(game), unit)
    assert answers[6].replanned and answers[6].throttle > 0
    assert abs(unit.remaining) <= 1.0 and unit.speed <= 6.0


async def test_a_unit_that_can_no_longer_arrive_gets_its_best_effort(stub: ThrottlingServiceStub) -> None:
    game = state(distance=1500.0)
    unit = SimulatedUnit(game, push=Push(tick=2, shove=-1400.0))  # thrown back, few ticks left
    answers = await guide(stub, start(game, max_ticks=12), unit)
    after = answers[2]
    assert after.replanned and after.arrival == planning_pb2.ARRIVAL_UNREACHABLE
    assert {a.throttle for a in answers[2:]} == {300} and len(answers) == 12


# -- the protocol's order and bad input ---------------------------------------------------------


def observation(tick: int = 1, x: float = 100.0, y: float = -50.0, speed: float = 0.0) -> pb.GuideRequest:
    return pb.GuideRequest(
        observation=pb.Observation(tick=tick, coordinate=game_state_pb2.Coordinate(x=x, y=y), speed=speed)
    )


Exchange = Callable[[pb.GuideResponse], list[pb.GuideRequest]]

#: What the game sends after the first answer (tick 1), and the status that ends the call.
OUT_OF_ORDER: list[tuple[str, Exchange]] = [
    ("a second start", lambda first: [start(state())]),
    ("a tick ahead", lambda first: [observation(tick=2)]),
    ("the same tick twice", lambda first: [observation(tick=1), observation(tick=1)]),
]
INVALID: list[tuple[str, pb.GuideRequest, str]] = [
    ("NaN speed", observation(speed=math.nan), "observation.speed"),
    ("negative speed", observation(speed=-0.5), "observation.speed"),
    ("infinite speed", observation(speed=math.inf), "observation.speed"),
    ("absurd coordinate", observation(x=1e12), "observation.coordinate.x"),
    ("NaN coordinate", observation(y=math.nan), "observation.coordinate.y"),
    (
        "no coordinate",
        pb.GuideRequest(observation=pb.Observation(tick=1, speed=1.0)),
        "observation.coordinate",
    ),
    ("tick 0", observation(tick=0), "observation.tick"),
    ("neither start nor observation", pb.GuideRequest(), "kind"),
]


async def failed(stub: ThrottlingServiceStub, messages: list[pb.GuideRequest]) -> grpc.aio.AioRpcError:
    """Send `messages` (reading each answer), and return the error the call ends with."""
    session = stub.Guide(timeout=HANG_GUARD_SECONDS)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        for message in messages:
            await session.write(message)
            answer = await session.read()
            assert answer is not EOF, "the call ended without an error"
    return raised.value


async def test_an_observation_before_the_start_is_out_of_order(stub: ThrottlingServiceStub) -> None:
    error = await failed(stub, [observation()])
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(error).reason == "SESSION_OUT_OF_ORDER"
    assert "start" in (error.details() or "")


@pytest.mark.parametrize(("case", "after_start"), OUT_OF_ORDER, ids=[case for case, _ in OUT_OF_ORDER])
async def test_out_of_order_messages_end_the_session_cleanly(
    server: Application, stub: ThrottlingServiceStub, case: str, after_start: Exchange
) -> None:
    session = stub.Guide(timeout=HANG_GUARD_SECONDS)
    await session.write(start(state()))
    first = await session.read()
    assert isinstance(first, pb.GuideResponse)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        for message in after_start(first):
            await session.write(message)
            await session.read()
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION, case
    assert error_info(raised.value).reason == "SESSION_OUT_OF_ORDER"
    summary = await summary_of(server, first.plan_id)  # the session ended: its summary is stored
    assert not summary.completed


@pytest.mark.parametrize(("case", "message", "field"), INVALID, ids=[case for case, _, _ in INVALID])
async def test_a_bad_observation_is_invalid_argument_naming_the_field(
    server: Application, stub: ThrottlingServiceStub, case: str, message: pb.GuideRequest, field: str
) -> None:
    session = stub.Guide(timeout=HANG_GUARD_SECONDS)
    await session.write(start(state()))
    first = await session.read()
    assert isinstance(first, pb.GuideResponse)
    await session.write(message)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await session.read()
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, case
    assert field in field_violations(raised.value)
    assert not (await summary_of(server, first.plan_id)).completed


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda s: setattr(s.player_units[0], "mass", -1.0), "start.game_state.player_units[0].mass"),
        (lambda s: s.ClearField("enemy_units"), "start.game_state.enemy_units"),
    ],
)
async def test_a_bad_start_is_invalid_argument_naming_the_field(
    stub: ThrottlingServiceStub, change: Callable[[game_state_pb2.GameState], None], field: str
) -> None:
    game = state()
    change(game)
    error = await failed(stub, [start(game)])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in field_violations(error)


async def test_bad_options_are_invalid_argument_naming_the_field(stub: ThrottlingServiceStub) -> None:
    error = await failed(stub, [start(state(), max_ticks=0)])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "start.options.max_ticks" in field_violations(error)


async def test_bytes_that_are_no_message_are_invalid_argument(server: Application) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        raw = channel.stream_stream("/throttling.v1.ThrottlingService/Guide", bytes, bytes)
        session = raw(timeout=HANG_GUARD_SECONDS)  # type: ignore[call-arg]  # written to below
        await session.write(b"\xff\xff\xff")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await session.read()
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# -- how a session ends -------------------------------------------------------------------------


async def test_closing_early_ends_the_session_with_its_summary(
    server: Application, stub: ThrottlingServiceStub
) -> None:
    game = state()
    unit = SimulatedUnit(game)
    session = stub.Guide(timeout=HANG_GUARD_SECONDS)
    await session.write(start(game))
    first = await session.read()
    assert isinstance(first, pb.GuideResponse)
    for _ in range(3):
        answer = await session.read() if _ else first
        assert isinstance(answer, pb.GuideResponse)
        await session.write(pb.GuideRequest(observation=unit.step(answer.throttle)))
    await session.done_writing()
    assert await session.read() is not EOF  # the answer to the third observation
    assert await session.read() is EOF
    assert await session.code() == grpc.StatusCode.OK
    summary = await summary_of(server, first.plan_id)
    assert (summary.ticks, summary.completed) == (3, False)
    assert summary.final_miss == pytest.approx(unit.remaining)


async def test_closing_before_the_start_ends_the_call(stub: ThrottlingServiceStub) -> None:
    session = stub.Guide(timeout=HANG_GUARD_SECONDS)
    await session.done_writing()
    assert await session.read() is EOF
    assert await session.code() == grpc.StatusCode.OK


def logged_end(log_records: list[Any], plan_id: str, statuses: set[str]) -> Callable[[], bool]:
    """A condition: the session of this plan logged its end, and its RPC one of `statuses`."""

    def ended() -> bool:
        guided = any(r["message"] == "guided" and r["extra"]["plan_id"] == plan_id for r in log_records)
        rpc = any(
            r["message"] == "rpc"
            and r["extra"]["method"].endswith("/Guide")
            and r["extra"]["status"] in statuses
            for r in log_records
        )
        return guided and rpc

    return ended


async def test_the_callers_deadline_ends_the_session_at_once(
    server: Application, stub: ThrottlingServiceStub, log_records: list[Any]
) -> None:
    """With no idle timeout to end it, the session ends when the caller's deadline passes."""
    session = stub.Guide(timeout=1.0)
    await session.write(start(state()))
    first = await session.read()
    assert isinstance(first, pb.GuideResponse)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await session.read()  # the game never reports the tick
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await wait_for(logged_end(log_records, first.plan_id, {"DEADLINE_EXCEEDED"}), "the session to end")
    assert not (await summary_of(server, first.plan_id)).completed


async def test_cancelling_ends_the_session_at_once(
    server: Application, stub: ThrottlingServiceStub, log_records: list[Any]
) -> None:
    session = stub.Guide(timeout=HANG_GUARD_SECONDS)
    await session.write(start(state()))
    first = await session.read()
    assert isinstance(first, pb.GuideResponse)
    session.cancel()
    # grpc ends the server's request stream as for a half-close, then cancels the handler: the
    # log says CANCELLED when that lands before the call has ended, OK otherwise.
    ended = logged_end(log_records, first.plan_id, {"CANCELLED", "OK"})
    await wait_for(ended, "the cancelled session to end")
    assert not (await summary_of(server, first.plan_id)).completed


async def test_sessions_run_side_by_side_on_one_connection(stub: ThrottlingServiceStub) -> None:
    games = [state(distance=d) for d in (900.0, 1800.0, 2700.0)]
    units = [SimulatedUnit(g, friction=0.11) for g in games]
    results = await asyncio.gather(*(guide(stub, start(g), u) for g, u in zip(games, units, strict=True)))
    assert len({r[0].plan_id for r in results}) == 3
    assert all(abs(u.remaining) <= 1.0 for u in units)


@pytest.fixture(scope="module")
async def impatient() -> AsyncIterator[ThrottlingServiceStub]:
    """A server that waits at most 0.2 s for a session's next message."""
    async with serving(make_settings(guide_idle_seconds=0.2)) as (_, stub):
        yield stub


async def test_a_session_waits_for_the_next_observation_at_most_the_idle_timeout(
    impatient: ThrottlingServiceStub,
) -> None:
    session = impatient.Guide(timeout=HANG_GUARD_SECONDS)
    await session.write(start(state()))
    assert isinstance(await session.read(), pb.GuideResponse)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await session.read()  # the game never reports the tick
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert error_info(raised.value).reason == "SESSION_IDLE"


async def test_a_session_that_never_starts_ends_at_the_idle_timeout(impatient: ThrottlingServiceStub) -> None:
    session = impatient.Guide(timeout=HANG_GUARD_SECONDS)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await session.read()
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert error_info(raised.value).reason == "SESSION_IDLE"
