"""ThrottlingService over gRPC: validate the wire request, map it, call the use case, map back.

Every method acts for the caller the RequestBoundary interceptor established (`caller(context)`:
served without that interceptor, every call fails loudly). Errors are raised as exceptions;
the interceptor maps them to statuses (adapters/grpc/errors.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, assert_never

import grpc

from throttling.v1 import game_state_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1 import throttling_service_pb2_grpc as pb_grpc
from throttling_sequencer import metrics
from throttling_sequencer.adapters.grpc import mappers
from throttling_sequencer.adapters.grpc.caller import caller
from throttling_sequencer.adapters.grpc.errors import (
    DeadlinePassed,
    SessionIdle,
    StreamTooLong,
    deadline_passed,
)
from throttling_sequencer.adapters.grpc.validation import (
    SIDES,
    Limits,
    Violations,
    check_batch,
    check_game_state,
    check_observation,
    check_options,
    check_tick_interval,
    check_unit,
)
from throttling_sequencer.domain.errors import FieldViolation, InvalidInput, SessionOutOfOrder
from throttling_sequencer.domain.guidance import Observation
from throttling_sequencer.domain.model import GameState, Plan, PlannerOverrides
from throttling_sequencer.service import paging
from throttling_sequencer.service.batch import Checked, Roster
from throttling_sequencer.service.events import Finished, Improved
from throttling_sequencer.service.guidance import GuidanceService
from throttling_sequencer.service.planning import PlanningService

if TYPE_CHECKING:
    Context = grpc.aio.ServicerContext[Any, Any]
#: Most bytes of plans in one ListPlans answer. A plan holds up to 2 x max_units units and
#: max_ticks goals (about 125 KB at the limits), so 100 of them would pass Envoy's transcoder
#: buffer (1 MiB: REST answered 500) and gRPC clients' default receive limit (4 MiB).
MAX_PAGE_BYTES = 512 * 1024
PlanRequest = (
    pb.CalculateThrottleStepsRequest
    | pb.CreatePlanRequest
    | pb.StreamThrottleStepsRequest
    | pb.StreamPlanProgressRequest
    | pb.GuideStart
)


class ThrottlingServicer(pb_grpc.ThrottlingServiceServicer):
    def __init__(
        self,
        planning: PlanningService,
        guidance: GuidanceService,
        limits: Limits,
        pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`pause` waits between paced ticks: a test passes its own clock to observe the pacing."""
        self._planning = planning
        self._guidance = guidance
        self._limits = limits
        self._pause = pause

    async def CalculateThrottleSteps(
        self, request: pb.CalculateThrottleStepsRequest, context: Context
    ) -> pb.CalculateThrottleStepsResponse:
        plan = await self._plan(request, context, Violations())
        response = pb.CalculateThrottleStepsResponse()
        mappers.add_goals(response.goals, plan.target, plan.throttles)
        return response

    async def CreatePlan(self, request: pb.CreatePlanRequest, context: Context) -> pb.CreatePlanResponse:
        plan = await self._plan(request, context, Violations())
        return pb.CreatePlanResponse(plan=mappers.plan_to_wire(plan))

    async def StreamThrottleSteps(
        self, request: pb.StreamThrottleStepsRequest, context: Context
    ) -> AsyncIterator[pb.StreamThrottleStepsResponse]:
        violations = Violations()
        check_tick_interval(violations, request.tick_interval_ms)
        plan = await self._plan(request, context, violations)
        interval = request.tick_interval_ms / 1000.0
        ends = time.monotonic() + self._limits.max_stream_seconds
        for tick in PlanningService.ticks(plan):
            if interval and tick.tick > 1:
                if time.monotonic() + interval > ends:
                    raise StreamTooLong(self._limits.max_stream_seconds, plan_id=str(plan.plan_id))
                await self._pause(interval)
            yield mappers.tick_to_wire(plan, tick)
        yield mappers.done_to_wire(plan)

    async def StreamPlanProgress(
        self, request: pb.StreamPlanProgressRequest, context: Context
    ) -> AsyncIterator[pb.StreamPlanProgressResponse]:
        call = caller(context)
        state, overrides = self._validated(request, Violations())
        target = state.enemy_units[0].coordinate
        # Closed when the client goes away: that stops the planner.
        async with aclosing(self._planning.plan_events(state, overrides, call)) as events:
            async for event in events:
                match event:
                    case Improved(progress):
                        yield mappers.progress_to_wire(target, progress)
                    case Finished(plan):
                        metrics.observe_plan(plan)
                        yield pb.StreamPlanProgressResponse(done=mappers.plan_to_wire(plan))
                    case _:
                        assert_never(event)

    async def GetStatus(self, request: pb.GetStatusRequest, context: Context) -> pb.GetStatusResponse:
        caller(context)  # served behind the boundary like every method, though it reads no plan
        status = self._planning.storage_status()
        return pb.GetStatusResponse(
            storage=status.kind,
            outbox=status.outbox,
            pending_writes=status.pending_writes,
            max_write_delay_seconds=status.max_write_delay_seconds,
            poisoned_writes=status.poisoned_writes,
        )

    async def GetPlan(self, request: pb.GetPlanRequest, context: Context) -> pb.GetPlanResponse:
        plan = await self._planning.get_plan(request.plan_id, caller(context))
        return pb.GetPlanResponse(plan=mappers.plan_to_wire(plan))

    async def ListPlans(self, request: pb.ListPlansRequest, context: Context) -> pb.ListPlansResponse:
        """A page of plans, cut short (with a token for the rest) once it would pass MAX_PAGE_BYTES."""
        page = await self._planning.list_plans(request.page_size, request.page_token, caller(context))
        response = pb.ListPlansResponse(next_page_token=page.next_page_token)
        size = 0
        for plan in page.plans:
            wire = mappers.plan_to_wire(plan)
            size += wire.ByteSize()
            if response.plans and size > MAX_PAGE_BYTES:
                response.next_page_token = paging.encode(page.plans[len(response.plans) - 1])
                break
            response.plans.append(wire)
        return response

    async def CreatePlanBatch(
        self, request: pb.CreatePlanBatchRequest, context: Context
    ) -> pb.CreatePlanBatchResponse:
        call = caller(context)
        violations = Violations()
        check_batch(violations, request, self._limits)
        violations.raise_if_any()
        state = request.game_state
        roster = Roster(*(self._side(getattr(state, side), side) for side in SIDES))
        assignments = [mappers.assignment_from_wire(a) for a in request.assignments]
        overrides = mappers.overrides_from_wire(request.options)
        results = await self._planning.create_plan_batch(roster, assignments, overrides, call)
        response = pb.CreatePlanBatchResponse()
        for result in results:
            if isinstance(result.outcome, Plan):
                metrics.observe_plan(result.outcome)
            response.results.append(mappers.batch_result_to_wire(result))
        return response

    def _side(self, units: Iterable[game_state_pb2.Unit], side: str) -> tuple[Checked, ...]:
        """A batch's units, one by one: valid, or the violations that name them (failing only the
        results that plan them)."""
        checked: list[Checked] = []
        for index, unit in enumerate(units):
            violations = Violations()
            check_unit(violations, unit, f"game_state.{side}[{index}]", self._limits)
            valid = not violations.items
            checked.append(mappers.unit_from_wire(unit) if valid else InvalidInput(violations.items))
        return tuple(checked)

    async def Guide(
        self, requests: AsyncIterable[pb.GuideRequest], context: Context
    ) -> AsyncIterator[pb.GuideResponse]:
        """A guidance session: `start`, then one observation per tick, each answered with the next
        tick, until the observation of the `done` tick. Whatever ends it (that, an error, a
        timeout, the caller closing or going away), its plan is stored again with its summary."""
        call = caller(context)
        messages = _Messages(requests, context, self._limits)
        first = await messages.next()
        if first is None:
            return  # closed before starting: nothing to guide
        if _kind(first) != "start":
            raise SessionOutOfOrder("the first message of a session must be `start`")
        state, overrides = self._validated(first.start, Violations(), prefix="start.")
        session = await self._guidance.start(state, overrides, call)
        metrics.observe_plan(session.plan)
        try:
            yield mappers.guide_tick_to_wire(session.plan_id, session.first_tick())
            while not session.finished:
                message = await messages.next()
                if message is None:
                    return  # the caller closed its side: the session ends early
                received = time.perf_counter()
                tick = await session.observe(self._observation(message))
                if tick is None:
                    return  # that was the observation of the `done` tick
                metrics.observe_guide_tick(time.perf_counter() - received, tick.replanned)
                yield mappers.guide_tick_to_wire(session.plan_id, tick)
        finally:
            summary = await session.close()
            metrics.observe_guide_session(summary)

    def _observation(self, message: pb.GuideRequest) -> Observation:
        if _kind(message) != "observation":
            raise SessionOutOfOrder("a session has one `start`; every later message is an `observation`")
        violations = Violations()
        check_observation(violations, message.observation, self._limits)
        violations.raise_if_any()
        return mappers.observation_from_wire(message.observation)

    async def _plan(self, request: PlanRequest, context: Context, violations: Violations) -> Plan:
        call = caller(context)
        state, overrides = self._validated(request, violations)
        plan = await self._planning.create_plan(state, overrides, call)
        metrics.observe_plan(plan)
        return plan

    def _validated(
        self, request: PlanRequest, violations: Violations, prefix: str = ""
    ) -> tuple[GameState, PlannerOverrides]:
        state_path, options_path = f"{prefix}game_state", f"{prefix}options"
        present = request.HasField("game_state")
        check_game_state(violations, request.game_state, present, self._limits, state_path)
        check_options(violations, request.options, options_path)
        violations.raise_if_any()
        return mappers.game_state_from_wire(request.game_state), mappers.overrides_from_wire(request.options)


def _kind(message: pb.GuideRequest) -> str:
    """Which of `start` and `observation` a session's message holds."""
    kind: str | None = message.WhichOneof("kind")
    if kind is None:
        raise InvalidInput([FieldViolation("kind", "set `start` or `observation`")])
    return kind


class _Messages:
    """A session's incoming messages, each awaited at most the idle timeout, all within the
    longest a stream may run.

    grpc ends the request stream alike when the caller half-closes, cancels or passes its
    deadline. The deadline is told apart by the time left; a cancel cannot be told from a
    half-close when the stream ends (grpc cancels the handler a moment later): either ends the
    session at once, without an error of ours.
    """

    def __init__(self, requests: AsyncIterable[pb.GuideRequest], context: Context, limits: Limits) -> None:
        self._requests = aiter(requests)
        self._context = context
        self._limits = limits
        self._ends = time.monotonic() + limits.max_stream_seconds

    async def next(self) -> pb.GuideRequest | None:
        left = self._ends - time.monotonic()
        idle = self._limits.guide_idle_seconds
        try:
            async with asyncio.timeout(min(idle, max(0.0, left))):
                message = await anext(self._requests, None)
        except TimeoutError:
            if idle < left:
                raise SessionIdle(idle) from None
            raise StreamTooLong(self._limits.max_stream_seconds) from None
        if message is None and deadline_passed(self._context.time_remaining()):
            raise DeadlinePassed()
        return message
