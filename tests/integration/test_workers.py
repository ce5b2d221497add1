"""`serve` with N workers (THROTTLING_WORKERS, --workers, docker-compose's server): through the
real CLI, exactly one supervisor and N workers, never workers of workers, and it serves.

Workers share a fixed port (SO_REUSEPORT), so these tests take a free port rather than port 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.support import child_environment, free_port, grpc_serving, process_tree, wait_for

SERVE = [sys.executable, "-m", "throttling_sequencer.cli", "serve"]


def output(log: Path) -> str:
    """A process's log, for failure messages (its last 4,000 characters)."""
    return log.read_text(errors="replace")[-4000:]


def serving_workers(log: Path) -> set[int]:
    """Worker indexes that logged "serving"."""
    found = set()
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("message") == "serving":
                found.add(record["worker"])
    return found


async def assert_serves_with_exactly(
    workers: int, command: list[str], env: Mapping[str, str], port: int, log: Path
) -> None:
    """Start `command`; it must grow to exactly 1 + `workers` processes (never more, at any
    moment), answer gRPC health on `port`, and stop cleanly on SIGTERM."""
    with log.open("wb") as out:
        # Its own session, so that whatever it starts can be stopped as one group.
        supervisor = subprocess.Popen(  # noqa: ASYNC220 (starting is instant)
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:

        def ready() -> bool:
            tree = process_tree(supervisor.pid)
            assert len(tree) <= 1 + workers, (
                f"{len(tree)} processes after starting {workers} workers: workers start workers\n"
                + output(log)
            )
            assert supervisor.poll() is None, output(log)
            return serving_workers(log) == set(range(workers))

        await wait_for(ready, f"{workers} workers to log 'serving' on port {port}")
        tree = process_tree(supervisor.pid)
        assert len(tree) == 1 + workers, tree
        children = [pid for pid in tree if pid != supervisor.pid]
        assert all(process_tree(child) == [child] for child in children), "a worker has children"
        assert await grpc_serving(f"127.0.0.1:{port}")

        supervisor.send_signal(signal.SIGTERM)
        await wait_for(lambda: supervisor.poll() is not None, "the supervisor to stop after SIGTERM")
        assert supervisor.returncode == 0, output(log)
        assert all(process_tree(child) == [] for child in children), "a worker outlived its supervisor"
    finally:
        kill_session(supervisor)


def kill_session(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL what is left of the session `process` leads (started with start_new_session):
    only processes this test started, orphans included."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


async def test_workers_from_the_environment_start_exactly_once(tmp_path: Path) -> None:
    """Workers inherit THROTTLING_WORKERS=2: they must not each start two more (the
    `--workers` flag takes the same path once parsed)."""
    port = free_port()
    environment = child_environment(
        THROTTLING_WORKERS="2", THROTTLING_GRPC_PORT=str(port), THROTTLING_DATA_DIR=str(tmp_path / "data")
    )
    await assert_serves_with_exactly(2, SERVE, environment, port, tmp_path / "serve.log")


async def test_a_worker_refuses_to_supervise(tmp_path: Path) -> None:
    environment = child_environment(
        THROTTLING_SUPERVISED="true",
        THROTTLING_WORKERS="2",
        THROTTLING_GRPC_PORT=str(free_port()),
        THROTTLING_DATA_DIR=str(tmp_path),
    )
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(  # noqa: ASYNC220 (starting is instant)
            SERVE, env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:

        def refused() -> bool:
            assert len(process_tree(worker.pid)) <= 1, "a worker started workers"
            return worker.poll() is not None

        await wait_for(refused, "a worker told to start workers to exit")
    finally:
        kill_session(worker)
    said = output(log)
    assert worker.returncode == 2, said
    assert said.splitlines()[-1].endswith("a worker never supervises")
    assert "Traceback" not in said


def interpolate(value: str) -> str:
    """docker-compose's `${NAME:-default}` with nothing set: the file's own default."""
    return re.sub(r"\$\{\w+(?::?-([^}]*))?\}", lambda m: m.group(1) or "", value)


def image_environment(dockerfile: str, stage: str) -> dict[str, str]:
    """THROTTLING_* variables the Dockerfile's `stage` sets with ENV."""
    body = dockerfile.split(f" AS {stage}", 1)[1].split("\nFROM ", 1)[0].replace("\\\n", " ")
    env = {}
    for line in body.splitlines():
        if line.startswith("ENV "):
            for pair in shlex.split(line[4:]):
                name, _, value = pair.partition("=")
                if name.startswith("THROTTLING_"):
                    env[name] = value
    return env


async def test_the_compose_server_command_starts_exactly_its_workers(repo_root: Path, tmp_path: Path) -> None:
    """docker-compose.yml's server, as the container would run it (its command, the prod image's
    and the service's environment), minus what needs Docker: Postgres becomes SQLite, and the
    port, address and data directory are this machine's."""
    compose: dict[str, Any] = yaml.safe_load((repo_root / "docker-compose.yml").read_text())
    server = compose["services"]["server"]
    assert server["build"]["target"] == "prod"
    environment = image_environment((repo_root / "Dockerfile").read_text(), "prod")
    environment |= {name: interpolate(str(value)) for name, value in server["environment"].items()}
    workers = int(environment.get("THROTTLING_WORKERS", "1"))
    assert workers == 2, "compose runs two workers by default"
    port = free_port()
    environment |= {
        "THROTTLING_DATABASE_URL": "",  # SQLite under the data dir
        "THROTTLING_DATA_DIR": str(tmp_path / "data"),
        "THROTTLING_GRPC_HOST": "127.0.0.1",
        "THROTTLING_GRPC_PORT": str(port),
    }
    command = [sys.executable if part == "python" else part for part in server["command"]]
    env = child_environment(**environment)
    await assert_serves_with_exactly(workers, command, env, port, tmp_path / "compose-server.log")
