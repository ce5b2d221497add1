"""Planning lanes: separate worker pools so a quick plan never queues behind long ones.

A plan's lane is chosen by the most time it may take (its time budget, capped by the caller's
deadline): plans allowed at most `quick_seconds` run in the quick lane, the rest in the long
lane. Each lane has threads of its own, so however many long plans are waiting, quick plans
only ever wait for other quick plans.

Within a lane, callers take turns (FairLane): a free thread goes to the waiting caller with the
fewest plans running, and among those to the one served least recently; each caller's own plans
run in the order sent. So one caller queueing many plans that use their whole budget (say a
hundred 1 s plans) delays another caller's plan by at most one running plan, not by the queue.
"""

from __future__ import annotations

import functools
import threading
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
#: The caller of work submitted through the plain Executor interface.
NOBODY = ""


class FairLane(Executor):
    """A pool of threads that serves callers in turn (see the module doc).

    The threads are its own (started as work arrives, up to `threads`): a free thread takes the
    next plan itself, so a plan costs one future and one hand-over, not a second executor's too.
    """

    def __init__(self, threads: int, name: str) -> None:
        self._threads = threads
        self._name = name
        self._changed = threading.Condition()  # guards everything below
        self._workers: list[threading.Thread] = []
        self._idle = 0  # workers waiting for a plan
        self._queues: dict[str, deque[tuple[Future[Any], Callable[[], Any]]]] = {}
        self._running: Counter[str] = Counter()
        self._served: dict[str, int] = {}  # caller -> when last given a thread (a counter)
        self._turn = 0
        self._shutdown = False

    @property
    def waiting(self) -> int:
        """Plans queued, not yet running."""
        with self._changed:
            return sum(len(queue) for queue in self._queues.values())

    @property
    def running(self) -> int:
        """Plans on a thread now."""
        with self._changed:
            return self._running.total()

    def submit_for(self, caller: str, fn: Callable[[], T]) -> Future[T]:
        """Run `fn` on a thread when it is `caller`'s turn; cancelling the future while it waits
        drops it unrun."""
        future: Future[T] = Future()
        with self._changed:
            if self._shutdown:
                raise RuntimeError("cannot schedule new plans after shutdown")
            self._queues.setdefault(caller, deque()).append((future, fn))
            if self._idle:
                self._changed.notify()
            elif len(self._workers) < self._threads:
                worker = threading.Thread(
                    target=self._work, name=f"{self._name}_{len(self._workers)}", daemon=True
                )
                self._workers.append(worker)
                worker.start()
        return future

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return self.submit_for(NOBODY, functools.partial(fn, *args, **kwargs))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        dropped: list[Future[Any]] = []
        with self._changed:
            self._shutdown = True
            if cancel_futures:
                dropped = [future for queue in self._queues.values() for future, _ in queue]
                self._queues.clear()
            self._changed.notify_all()
            workers = list(self._workers)
        for future in dropped:
            future.cancel()
        if wait:
            for worker in workers:
                worker.join()

    def _work(self) -> None:
        """A worker: take the next plan in turn and run it, until shut down with nothing queued."""
        while True:
            with self._changed:
                while not self._queues and not self._shutdown:
                    self._idle += 1
                    self._changed.wait()
                    self._idle -= 1
                if not self._queues:  # shut down, and nothing left to run
                    return
                caller, future, fn = self._next()
                if not future.set_running_or_notify_cancel():  # cancelled while it waited
                    self._forget(caller)
                    continue
                self._running[caller] += 1
                self._turn += 1
                self._served[caller] = self._turn
            try:
                result = fn()
            except BaseException as error:  # handed to the caller, like ThreadPoolExecutor does
                future.set_exception(error)
            else:
                future.set_result(result)
            finally:
                with self._changed:
                    self._running[caller] -= 1
                    self._forget(caller)

    def _next(self) -> tuple[str, Future[Any], Callable[[], Any]]:
        """The waiting caller with the fewest plans running, then the one served least recently:
        its oldest plan (lock held)."""
        caller = min(self._queues, key=lambda c: (self._running[c], self._served.get(c, -1)))
        queue = self._queues[caller]
        future, fn = queue.popleft()
        if not queue:
            del self._queues[caller]
        return caller, future, fn

    def _forget(self, caller: str) -> None:
        """Drop the book-keeping of a caller with nothing running or waiting (lock held)."""
        if not self._running[caller] and caller not in self._queues:
            del self._running[caller]
            self._served.pop(caller, None)


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

    def submit(self, allowed_seconds: float, caller: str, job: Callable[[], T]) -> Future[T]:
        """Queue `job` in its lane, in `caller`'s turn where the lane takes turns."""
        lane = self.for_plan(allowed_seconds)
        if isinstance(lane, FairLane):
            return lane.submit_for(caller, job)
        return lane.submit(job)

    def shutdown(self, cancel_futures: bool = False) -> None:
        """Wait for running plans to end in both lanes (queued ones are dropped if asked)."""
        for executor in {id(self.quick): self.quick, id(self.long): self.long}.values():
            executor.shutdown(wait=True, cancel_futures=cancel_futures)
