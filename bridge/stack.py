"""`make up`: the whole stack in the foreground — gRPC server, GraphQL sidecar, Envoy. Ctrl-C stops all.

Each part is a child process; if one dies the others are stopped too, so a broken stack never
half-runs. The server gets SIGTERM first and drains (health NOT_SERVING, in-flight RPCs finish).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from loguru import logger

from bridge.settings import BridgeSettings
from throttling_sequencer import logs

STOP_TIMEOUT_SECONDS = 15.0


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


#: The stack's processes; docker-compose.yml runs the same commands (a test checks).
COMMANDS = {
    "grpc-server": ["-m", "throttling_sequencer.cli", "serve"],
    "graphql-sidecar": ["-m", "bridge.graphql"],
    "envoy": ["-m", "bridge.envoy"],
}


def start(settings: BridgeSettings) -> list[Child]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return [Child(name, subprocess.Popen([sys.executable, *argv])) for name, argv in COMMANDS.items()]


def stop(children: list[Child]) -> None:
    """Stop in start order, each after the one before has exited: the server drains its streams
    (health NOT_SERVING, in-flight RPCs finish) while the sidecar and Envoy still carry them."""
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
        try:
            child.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            logger.warning("killing {} after {} s", child.name, STOP_TIMEOUT_SECONDS)
            child.process.kill()
            child.process.wait()


def main() -> int:
    settings = BridgeSettings.from_env()
    logs.configure(settings.log_level, settings.log_format)
    stop_requested = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    children = start(settings)
    logger.info(
        "stack up: gRPC {}, REST, GraphQL (/graphql) and gRPC via Envoy http://{}:{} "
        "(health /api/v1/health), Envoy admin http://127.0.0.1:{}; Ctrl-C stops all",
        settings.grpc_address,
        settings.envoy.host,
        settings.envoy.port,
        settings.envoy.admin_port,
    )
    exit_code = 0
    while not stop_requested:
        dead = [c for c in children if c.process.poll() is not None]
        if dead:
            logger.error("{} exited with {}; stopping the stack", dead[0].name, dead[0].process.returncode)
            exit_code = 1
            break
        time.sleep(0.2)
    stop(children)
    logger.info("stack stopped")
    return exit_code


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
