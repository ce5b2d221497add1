"""The one bridge from a worker thread to the event loop: values put in one thread come out on
the loop, in the order they were put.

A planner runs in a worker thread and reports as it goes; the request that started it reads
those reports on the event loop. `put` is safe from any thread and never blocks (nor raises: a
report after the loop has closed is dropped, not turned into a planner crash); the loop side
iterates until `close`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Final, Generic, TypeVar

T = TypeVar("T")


class _End:
    """Marks the end of the values, after everything put before `close`."""


_END: Final = _End()


class Handoff(Generic[T]):
    """Create it on the loop that reads it."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[T | _End] = asyncio.Queue()

    def put(self, value: T) -> None:
        """From any thread: `value` comes out after every value put before it."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody reads any more
            self._loop.call_soon_threadsafe(self._queue.put_nowait, value)

    def close(self) -> None:
        """On the loop: iteration ends after the values already handed over to it.

        A value put by a thread reaches the loop (in `put` order) before anything the thread
        schedules afterwards, such as the result of the function it was running: so closing when
        that result arrives ends iteration after the thread's last value.
        """
        self._queue.put_nowait(_END)

    async def __aiter__(self) -> AsyncIterator[T]:
        while not isinstance(value := await self._queue.get(), _End):
            yield value
