"""`serve --workers N`: N server processes sharing one port (SO_REUSEPORT), one supervisor.

Python's GIL caps one process at one core of planning; the kernel spreads new connections
over the processes listening on the port. Each worker is a plain `serve` in its own
interpreter (nothing gRPC exists before it starts), so there is no fork-safety hazard. The
supervisor applies migrations once, forwards SIGINT/SIGTERM so workers drain gracefully,
and stops them all if one dies.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

from loguru import logger

from throttling_sequencer.adapters.storage.tortoise_repository import apply_migrations
from throttling_sequencer.settings import Settings

POLL_SECONDS = 0.2


def run(settings: Settings, count: int) -> int:
    if settings.grpc_port == 0:
        raise SystemExit("--workers needs a fixed port (THROTTLING_GRPC_PORT), not 0")
    url = settings.resolved_database_url
    if url.startswith("sqlite://"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        asyncio.run(apply_migrations(url))
    env = {**os.environ, "THROTTLING_REUSE_PORT": "true", "THROTTLING_GRPC_PORT": str(settings.grpc_port)}
    command = [sys.executable, "-m", "throttling_sequencer.cli", "serve"]
    # Each worker gets an index: its own outbox journal, replayed by the same index next start.
    workers = [
        subprocess.Popen(command, env={**env, "THROTTLING_WORKER_INDEX": str(index)})
        for index in range(count)
    ]
    logger.info("supervising workers", workers=count, pids=[w.pid for w in workers])

    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    exit_code = 0
    while any(w.poll() is None for w in workers):
        dead = [w for w in workers if w.poll() is not None]
        if dead and not stopping:
            logger.error("worker {} exited with {}; stopping the others", dead[0].pid, dead[0].returncode)
            exit_code = 1
            forward(signal.SIGTERM, None)
        time.sleep(POLL_SECONDS)
    deadline = time.monotonic() + settings.shutdown_grace_seconds + 5
    for worker in workers:
        worker.wait(timeout=max(0.1, deadline - time.monotonic()))
    logger.info("workers stopped")
    return exit_code
