"""`make up`'s stack for benchmarks: on free ports, a temporary data dir, quiet logs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.service import free_port, wait_serving

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Stack:
    process: subprocess.Popen[bytes]
    data: Path
    grpc_port: int
    envoy_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.envoy_port}"


@contextmanager
def running_stack(**env: str) -> Iterator[Stack]:
    """Start the stack and wait for the gRPC server; on exit stop it like Ctrl-C (if still up)."""
    grpc_port, envoy_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as data:
        environment = {
            **os.environ,
            "THROTTLING_GRPC_PORT": str(grpc_port),
            "THROTTLING_ENVOY_PORT": str(envoy_port),
            "THROTTLING_ENVOY_ADMIN_PORT": str(free_port()),
            "THROTTLING_GRAPHQL_PORT": str(free_port()),
            "THROTTLING_DATA_DIR": data,
            "THROTTLING_LOG_LEVEL": "WARNING",
            "THROTTLING_METRICS_PORT": "0",
            **env,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge.stack"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_serving(grpc_port)
            yield Stack(process, Path(data), grpc_port, envoy_port)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
