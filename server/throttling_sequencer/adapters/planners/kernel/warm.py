"""Compile every kernel before the server takes requests, or load it from numba's disk cache.

Each kernel module may define `warm_up()`, calling its kernels once with the argument types
its planner passes; `warm_up` here runs them all. Compiled code is cached on disk (next to the
modules, or under NUMBA_CACHE_DIR), so only the first start after a change compiles; the
Docker build runs this so the image carries the cache.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from dataclasses import dataclass

from loguru import logger
from numba.core.registry import CPUDispatcher

from throttling_sequencer.adapters.planners import kernel


@dataclass(frozen=True, slots=True)
class WarmUp:
    """What warming up did: kernels loaded from the disk cache, kernels compiled, seconds taken."""

    loaded: int
    compiled: int
    seconds: float


def kernel_modules() -> list[str]:
    return [f"{kernel.__name__}.{m.name}" for m in pkgutil.iter_modules(kernel.__path__)]


def warm_up() -> WarmUp:
    started = time.perf_counter()
    modules = [importlib.import_module(name) for name in kernel_modules()]
    for module in modules:
        hook = getattr(module, "warm_up", None)
        if callable(hook) and module.__name__ != __name__:
            hook()
    loaded = compiled = 0
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher) and value.__module__ == module.__name__:
                loaded += sum(value.stats.cache_hits.values())
                compiled += sum(value.stats.cache_misses.values())
    return WarmUp(loaded, compiled, time.perf_counter() - started)


if __name__ == "__main__":  # the Docker build: `python -m throttling_sequencer.adapters.planners.kernel.warm`
    logger.info("planner kernels warmed up: {}", warm_up())
