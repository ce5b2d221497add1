"""`serve --workers N`: N server processes sharing one port (SO_REUSEPORT), one supervisor.

Python's GIL caps one process at one core of planning; the kernel spreads new connections
over the processes listening on the port. Each worker is a plain `serve` in its own
interpreter (nothing gRPC exists before it starts), so there is no fork-safety hazard. The
supervisor checks the port is free, applies migrations and compiles the planners' kernels once,
forwards SIGINT/SIGTERM so workers drain gracefully, and stops them all if one dies.

A worker inherits the supervisor's environment, THROTTLING_WORKERS included: it is told
explicitly that it is worker i of a supervisor with one process (THROTTLING_SUPERVISED,
THROTTLING_WORKER_INDEX, THROTTLING_WORKERS=1), and Settings refuses a worker with more,
so workers never start workers of their own.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

from loguru import logger

from throttling_sequencer import container as composition
from throttling_sequencer.settings import Settings
from throttling_sequencer.startup import (
    GRPC_PORT_SETTING,
    StartupError,
    ensure_port_free,
)

POLL_SECONDS = 0.2


def run(settings: Settings, count: int) -> int:
    """Start `count` workers on the settings' port and supervise them; the exit code."""
    if settings.supervised:  # Settings refuses this too; a worker must never fork more workers
        raise StartupError("this process is a worker (THROTTLING_SUPERVISED): it never supervises")
    if settings.grpc_port == 0:
        raise StartupError(f"--workers needs a fixed port, not 0: set {GRPC_PORT_SETTING}")
    # Workers share the port (SO_REUSEPORT), so only this check tells a busy port from a sibling.
    ensure_port_free(settings.grpc_host, settings.grpc_port, GRPC_PORT_SETTING)
    if settings.embedded_database:
        asyncio.run(composition.migrate(settings))
    # Workers then only load the kernels, so none has a process of its own.
    composition.compile_kernels()
    env = {
        **os.environ,
        "THROTTLING_SUPERVISED": "true",
        "THROTTLING_WORKERS": "1",
        "THROTTLING_REUSE_PORT": "true",
        "THROTTLING_GRPC_PORT": str(settings.grpc_port),
    }
    command = [sys.executable, "-m", "throttling_sequencer.cli", "serve"]
    workers: list[subprocess.Popen[bytes]] = []
    requested = False  # a signal asked us to stop

    def forward(signum: int) -> None:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signum)

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal requested
        requested = True
        forward(signum)

    # Handlers first: a signal that arrives while workers start reaches those already started.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # Each worker gets an index: its own outbox journal, replayed by the same index next start.
    for index in range(count):
        if not requested:
            workers.append(subprocess.Popen(command, env={**env, "THROTTLING_WORKER_INDEX": str(index)}))
    logger.info("supervising workers", workers=count, pids=[w.pid for w in workers])
    failed = False
    while any(w.poll() is None for w in workers):
        dead = [w for w in workers if w.poll() is not None]
        if dead and not (requested or failed):
            logger.error("worker {} exited with {}; stopping the others", dead[0].pid, dead[0].returncode)
            failed = True
            forward(signal.SIGTERM)
        time.sleep(POLL_SECONDS)
    # Workers that all ended on their own (none left to notice the first) are a failure too.
    failed = failed or not requested or any(w.returncode != 0 for w in workers)
    logger.info("workers stopped", exit_codes=[w.returncode for w in workers])
    return 1 if failed else 0
