"""The bridge from a planner's worker thread to the event loop (service/handoff.py)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from throttling_sequencer.service.handoff import Handoff


async def test_values_put_in_a_thread_arrive_in_order_and_end_after_its_result() -> None:
    """A thread puts values and returns; closing when its result arrives ends the iteration after
    its last value, whatever the loop was doing meanwhile."""
    handoff: Handoff[int] = Handoff()

    def work() -> str:
        for value in range(500):
            handoff.put(value)
        return "done"

    with ThreadPoolExecutor(1) as pool:
        result = asyncio.get_running_loop().run_in_executor(pool, work)
        result.add_done_callback(lambda _: handoff.close())
        received = [value async for value in handoff]
    assert received == list(range(500))
    assert await result == "done"


async def test_a_value_put_after_the_loop_closed_is_dropped_not_raised() -> None:
    """A planner still running when the server's loop is gone must not crash on its report."""
    holder: list[Handoff[int]] = []
    ready = threading.Event()

    def reader() -> None:
        async def make() -> None:
            holder.append(Handoff())

        asyncio.run(make())  # its loop is closed when run() returns
        ready.set()

    thread = threading.Thread(target=reader)
    thread.start()
    thread.join()
    assert ready.is_set()
    holder[0].put(1)  # does not raise


async def test_closing_an_empty_handoff_ends_iteration() -> None:
    handoff: Handoff[int] = Handoff()
    handoff.close()
    assert [value async for value in handoff] == []
