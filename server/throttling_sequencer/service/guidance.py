"""Guidance sessions: steer a unit tick by tick (domain/guidance.py) with the planners and the store.

A session plans and stores its initial plan like CreatePlan (so it has an id, and the caller's
options and the planning lanes apply), answers the first tick, and then takes one observation
per tick. Re-plans run the exact planner in the planning lanes within a small work budget
(REPLAN_WORK polls of its stop signal: a few milliseconds, and the same plan whatever the
machine's load), never stored. When the session ends, however it ends, its plan is stored again
with the session's summary (Plan.guidance) and one log line says how it went.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from uuid import UUID

from loguru import logger

from throttling_sequencer.domain.errors import ThrottlingError
from throttling_sequencer.domain.guidance import Guidance, GuideTick, Observation, Replan
from throttling_sequencer.domain.model import GameState, GuidanceSummary, Plan, PlannerOverrides, Problem
from throttling_sequencer.domain.physics import score_ceiling
from throttling_sequencer.domain.ports import PlanRepository
from throttling_sequencer.service.planning import CallContext, PlanningService

#: Polls of the stop signal a re-plan may take. The exact planner polls once per plan length it
#: explores (after the first) and per candidate it tunes. Over the disturbed public scenarios
#: (tests/integration/test_guide_scenarios.py) 8 steers home exactly the runs an unbounded search
#: does (4 lost 3 of 220); a re-plan then takes a few milliseconds (p50 1-3 ms on 2 shared cores).
REPLAN_WORK = 8


class GuidanceSession:
    """One session: its stored plan, the domain's state, and the way to plan and store."""

    def __init__(
        self,
        plan: Plan,
        guidance: Guidance,
        planning: PlanningService,
        repository: PlanRepository,
        call: CallContext,
        replan_work: int,
    ) -> None:
        self.plan = plan
        self._guidance = guidance
        self._planning = planning
        self._repository = repository
        self._call = call
        self._work = replan_work
        self._closed = False

    @property
    def plan_id(self) -> UUID:
        return self.plan.plan_id

    @property
    def finished(self) -> bool:
        return self._guidance.finished

    def first_tick(self) -> GuideTick:
        return self._guidance.first_tick()

    async def observe(self, observation: Observation) -> GuideTick | None:
        """The next tick, re-planned if the unit drifted; None once the `done` tick was observed.

        Raises SessionOutOfOrder for an observation of another tick than the one answered last.
        """
        replan = self._guidance.observe(observation)
        if self._guidance.finished:
            return None
        if replan is None:
            return self._guidance.next_tick()
        return self._guidance.next_tick(await self._replan(replan))

    async def close(self) -> GuidanceSummary:
        """Store the plan again with the session's summary (once), and log how it went.

        The write runs to the end even when the caller is cancelled meanwhile, and the session
        waits for it (a server that stops ends its sessions before it closes its store). A store
        that refuses it is logged, not raised: the session's own outcome (an answer, or the error
        that ended it) stands, and its plan was stored when it started.
        """
        summary = self._guidance.summary()
        if self._closed:
            return summary
        self._closed = True
        logger.info(
            "guided",
            plan_id=str(self.plan_id),
            ticks=summary.ticks,
            replans=summary.replans,
            final_miss=round(summary.final_miss, 6),
            final_speed=round(summary.final_speed, 6),
            estimated_friction=round(summary.estimated_friction, 6),
            completed=summary.completed,
        )
        stored = asyncio.ensure_future(self._store(summary))
        try:
            await asyncio.shield(stored)
        except asyncio.CancelledError:
            await asyncio.wait({stored})
            raise
        return summary

    async def _store(self, summary: GuidanceSummary) -> None:
        try:
            await self._repository.add(replace(self.plan, guidance=summary))
        except ThrottlingError as error:
            logger.error(
                "the session's summary was not stored", plan_id=str(self.plan_id), error=error.detail
            )

    async def _replan(self, replan: Replan) -> tuple[int, ...] | None:
        """The exact planner's plan for the observed state, or None (keep the incumbent) when the
        physics leaves the floating-point range."""
        if not math.isfinite(score_ceiling(replan.problem, replan.config)):
            return None
        result = await self._planning.solve(replan.problem, replan.config, self._call, work=self._work)
        return result.throttles


class GuidanceService:
    def __init__(
        self, planning: PlanningService, repository: PlanRepository, replan_work: int = REPLAN_WORK
    ) -> None:
        self._planning = planning
        self._repository = repository
        self._work = replan_work

    async def start(
        self, state: GameState, overrides: PlannerOverrides, call: CallContext
    ) -> GuidanceSession:
        """Plan and store the initial plan (for player_units[0] towards enemy_units[0])."""
        plan = await self._planning.create_plan(state, overrides, call)
        unit, target = state.player_units[0], state.enemy_units[0]
        guidance = Guidance(
            Problem.from_game_state(state),
            self._planning.config(overrides),
            plan.throttles,
            origin=unit.coordinate,
            target=target.coordinate,
        )
        return GuidanceSession(plan, guidance, self._planning, self._repository, call, self._work)
