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
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
#: The caller of work submitted through the plain Executor interface.
NOBODY = ""


class FairLane(Executor):
    """A pool of threads that serves callers in turn (see the module doc)."""

    def __init__(self, threads: int, name: str) -> None:
        self._threads = threads
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix=name)
        self._changed = threading.Condition()  # guards everything below
        self._free = threads
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

    def submit_for(self, caller: str, fn: Callable[[], T]) -> Future[T]:
        """Run `fn` on a thread when it is `caller`'s turn; cancelling the future while it waits
        drops it unrun."""
        future: Future[T] = Future()
        with self._changed:
            if self._shutdown:
                raise RuntimeError("cannot schedule new plans after shutdown")
            self._queues.setdefault(caller, deque()).append((future, fn))
        self._dispatch()
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
        for future in dropped:
            future.cancel()
        if wait:
            with self._changed:
                self._changed.wait_for(lambda: not self._queues and self._free == self._threads)
        self._pool.shutdown(wait=wait)

    def _dispatch(self) -> None:
        while True:
            with self._changed:
                if not self._free or not self._queues:
                    return
                caller = min(self._queues, key=lambda c: (self._running[c], self._served.get(c, -1)))
                queue = self._queues[caller]
                future, fn = queue.popleft()
                if not queue:
                    del self._queues[caller]
                if not future.set_running_or_notify_cancel():  # cancelled while it waited
                    self._forget(caller)
                    continue
                self._free -= 1
                self._running[caller] += 1
                self._turn += 1
                self._served[caller] = self._turn
            try:
                self._pool.submit(self._run, caller, future, fn)
            except RuntimeError as error:  # the pool was shut down without waiting
                future.set_exception(error)
                self._done(caller)

    def _run(self, caller: str, future: Future[Any], fn: Callable[[], Any]) -> None:
        try:
            result = fn()
        except BaseException as error:  # handed to the caller, like ThreadPoolExecutor does
            future.set_exception(error)
        else:
            future.set_result(result)
        finally:
            self._done(caller)
            self._dispatch()

    def _done(self, caller: str) -> None:
        with self._changed:
            self._free += 1
            self._running[caller] -= 1
            self._forget(caller)
            self._changed.notify_all()

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
