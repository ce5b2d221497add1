"""`make up`: the whole stack in the foreground — gRPC server, GraphQL sidecar, Envoy. Ctrl-C stops all.

Each part is a child process; if one dies the others are stopped too, so a broken stack never
half-runs. The server gets SIGTERM first and drains (health NOT_SERVING, in-flight RPCs finish).
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
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


def _local(host: str) -> str:
    """Where to reach a listener bound to `host` from this machine."""
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


def ready(settings: BridgeSettings) -> bool:
    """Envoy's health route answers 200 (so the gRPC server is SERVING behind it) and the GraphQL
    sidecar accepts connections: what a user needs before the README's first call."""
    envoy, graphql = settings.envoy, settings.graphql
    host = _local(envoy.host)
    scheme = "https" if envoy.tls_cert_file else "http"
    url = f"{scheme}://{f'[{host}]' if ':' in host else host}:{envoy.port}/api/v1/health"
    # Our own listener on this machine: no proxy, and its certificate need not name the address.
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ssl._create_unverified_context())
    )
    try:
        with opener.open(url, timeout=1) as reply:
            if reply.status != 200:
                return False
        with socket.create_connection((_local(graphql.host), graphql.port), timeout=1):
            return True
    except (OSError, ValueError):  # refused, 503 (an HTTPError), or not up yet
        return False


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
    logger.info("starting the stack (gRPC server, GraphQL sidecar, Envoy); Ctrl-C stops all")
    exit_code, announced = 0, False
    while not stop_requested:
        dead = [c for c in children if c.process.poll() is not None]
        if dead:
            logger.error("{} exited with {}; stopping the stack", dead[0].name, dead[0].process.returncode)
            exit_code = 1
            break
        if not announced and ready(settings):  # said once it is true, so a user can call at once
            announced = True
            front = f"http://{settings.envoy.host}:{settings.envoy.port}"
            logger.info(
                "stack up: gRPC {}, REST, GraphQL (/graphql) and gRPC via Envoy {} (health /api/v1/health), "
                "web page {}/ui, API docs {}/docs, metrics http://127.0.0.1:{}/metrics, Envoy admin "
                "http://127.0.0.1:{}; Ctrl-C stops all",
                settings.grpc_address,
                front,
                front,
                front,
                settings.metrics_port,
                settings.envoy.admin_port,
            )
        time.sleep(0.2)
    stop(children)
    logger.info("stack stopped")
    return exit_code


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
