"""Planning lanes: separate worker pools so a quick plan never queues behind long ones.

A plan's lane is chosen by the most time it may take (its time budget, capped by the caller's
deadline): plans allowed at most `quick_seconds` run in the quick lane, the rest in the long
lane. Each lane is a FIFO pool of its own threads, so however many long plans are waiting,
quick plans only ever wait for other quick plans.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PlanningLanes:
    quick: Executor
    long: Executor
    #: Plans allowed more than this many seconds go to the long lane.
    quick_seconds: float

    @classmethod
    def single(cls, executor: Executor) -> PlanningLanes:
        """One pool for every plan (tests, tools): no lane separation."""
        return cls(executor, executor, float("inf"))

    def for_plan(self, allowed_seconds: float) -> Executor:
        return self.quick if allowed_seconds <= self.quick_seconds else self.long

    def shutdown(self, cancel_futures: bool = False) -> None:
        """Wait for running plans to end in both lanes (queued ones are dropped if asked)."""
        for executor in {id(self.quick): self.quick, id(self.long): self.long}.values():
            executor.shutdown(wait=True, cancel_futures=cancel_futures)
