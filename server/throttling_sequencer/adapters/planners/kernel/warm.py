"""Compile every kernel before the server takes requests, or load it from numba's disk cache.

Each kernel module may define `warm_up()`, calling its kernels once with the argument types
its planner passes; `warm_up` here runs them all. Compiled code is cached on disk (next to the
modules, or under NUMBA_CACHE_DIR), so only the first start after a change compiles; the
Docker build runs this module so the image carries the cache.

Compiling takes LLVM memory the process keeps (measured: a server at 262 MB after compiling
in-process, 192 MB after loading the same kernels from the cache), so by default a child
process compiles whatever the cache lacks and this one only loads.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import time
from dataclasses import dataclass

from loguru import logger
from numba.core.registry import CPUDispatcher

from throttling_sequencer.adapters.planners import kernel

MODULE = "throttling_sequencer.adapters.planners.kernel.warm"
#: Compiling every kernel takes ~10 s on an idle machine; far longer means something is wrong.
CHILD_TIMEOUT_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class WarmUp:
    """What warming up did here: kernels loaded from the disk cache, kernels (and the functions
    they call) compiled in this process, seconds taken in all."""

    loaded: int
    compiled: int
    seconds: float


def kernel_modules() -> list[str]:
    return [f"{kernel.__name__}.{m.name}" for m in pkgutil.iter_modules(kernel.__path__)]


def warm_up(isolated: bool = True) -> WarmUp:
    """Load (or compile) every kernel signature the planners use. Blocking: from an event loop,
    run it in a thread. `isolated`: compile in a child process first (see the module doc)."""
    started = time.perf_counter()
    if isolated:
        compile_in_child()
    modules = [importlib.import_module(name) for name in kernel_modules()]
    for module in modules:
        hook = getattr(module, "warm_up", None)
        if callable(hook) and module.__name__ != MODULE:
            hook()
    loaded = compiled = 0
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher) and value.__module__ == module.__name__:
                loaded += sum(value.stats.cache_hits.values())
                compiled += sum(value.stats.cache_misses.values())
    return WarmUp(loaded, compiled, time.perf_counter() - started)


def compile_in_child() -> None:
    """Fill the disk cache from a child process; if that fails, whoever loads the kernels next
    compiles them itself (`serve --workers` calls this once, before its workers start)."""
    try:
        subprocess.run(
            [sys.executable, "-m", MODULE],
            check=True,
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_SECONDS,
        )
    except (OSError, subprocess.SubprocessError) as error:
        output = getattr(error, "stderr", None) or ""
        logger.warning("kernel warm-up child failed, compiling in-process: {} {}", error, output[-2000:])


if __name__ == "__main__":  # the child, and the Docker build
    logger.info("planner kernels warmed up: {}", warm_up(isolated=False))
