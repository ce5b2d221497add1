"""Start-up through the real launchers: a busy port or a data directory another server uses is one
clear line (what is taken, which variable to change), not a traceback; Envoy's rendered config
lives under the stack's data directory."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import child_environment, free_port, grpc_serving, stop_process, wait_for

SERVE = [sys.executable, "-m", "throttling_sequencer.cli", "serve"]
ENVOY = [sys.executable, "-m", "bridge.envoy"]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else listens on (no SO_REUSEPORT, like most servers)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("how", "args"),
    [("env", []), ("workers", ["--port", "{port}", "--workers", "2"])],
)
def test_a_busy_port_ends_serve_with_one_line(
    tmp_path: Path, busy_port: int, how: str, args: list[str]
) -> None:
    env = child_environment(THROTTLING_DATA_DIR=str(tmp_path))
    if how == "env":
        env["THROTTLING_GRPC_PORT"] = str(busy_port)
    result = run([*SERVE, *(a.format(port=busy_port) for a in args)], env, tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"port {busy_port} " in result.stderr
    assert "THROTTLING_GRPC_PORT" in result.stderr and "--port" in result.stderr


async def test_a_second_server_on_the_same_outbox_journal_ends_with_one_line(tmp_path: Path) -> None:
    """Two servers on one data directory (another port): the second stops at once with one line
    naming the journal, the process holding it and the variable to change."""
    port = free_port()
    env = child_environment(THROTTLING_DATA_DIR=str(tmp_path), THROTTLING_OUTBOX="on")
    with (tmp_path / "first.log").open("wb") as log:
        first = subprocess.Popen(  # noqa: ASYNC220 (starting is instant)
            SERVE, env=env | {"THROTTLING_GRPC_PORT": str(port)}, cwd=tmp_path, stdout=log, stderr=log
        )
    try:

        async def serving() -> bool:
            assert first.poll() is None, f"the first server exited with {first.returncode}"
            return await grpc_serving(f"127.0.0.1:{port}")

        await wait_for(serving, f"the first server to serve on port {port}")
        second = env | {"THROTTLING_GRPC_PORT": str(free_port())}
        result = await asyncio.to_thread(run, SERVE, second, tmp_path)
    finally:
        first.send_signal(signal.SIGTERM)
        stop_process(first)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"outbox-0 is in use by pid {first.pid}" in result.stderr
    assert "THROTTLING_DATA_DIR" in result.stderr


@pytest.mark.parametrize("variable", ["THROTTLING_ENVOY_PORT", "THROTTLING_ENVOY_ADMIN_PORT"])
def test_a_busy_port_ends_the_envoy_launcher_with_one_line(
    tmp_path: Path, busy_port: int, variable: str
) -> None:
    ports = {"THROTTLING_ENVOY_PORT": str(free_port()), "THROTTLING_ENVOY_ADMIN_PORT": str(free_port())}
    env = child_environment(THROTTLING_DATA_DIR=str(tmp_path), **(ports | {variable: str(busy_port)}))
    result = run(ENVOY, env, tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"port {busy_port} " in result.stderr and variable in result.stderr


async def test_two_envoys_on_one_machine_keep_their_own_config(tmp_path: Path) -> None:
    """One stack names its data directory, the other uses the default (.data where it runs):
    each Envoy's config is in its own directory and each serves its own ports."""
    stacks = {"named": tmp_path / "named" / "data", "default": tmp_path / "default" / ".data"}
    admins = {name: free_port() for name in stacks}
    launched: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, data in stacks.items():
            data.parent.mkdir(parents=True)
            env = child_environment(
                THROTTLING_ENVOY_PORT=str(free_port()),
                THROTTLING_ENVOY_ADMIN_PORT=str(admins[name]),
                THROTTLING_GRPC_PORT=str(free_port()),
                THROTTLING_GRAPHQL_PORT=str(free_port()),
            )
            if name == "named":
                env["THROTTLING_DATA_DIR"] = str(data)
            with (data.parent / "envoy.log").open("wb") as log:
                launched[name] = subprocess.Popen(  # noqa: ASYNC220 (starting is instant)
                    ENVOY, env=env, cwd=data.parent, stdout=log, stderr=subprocess.STDOUT
                )
        async with httpx.AsyncClient() as client:
            for name, process in launched.items():

                async def ready(name: str = name, process: subprocess.Popen[bytes] = process) -> bool:
                    assert process.poll() is None, f"{name} Envoy exited with {process.returncode}"
                    try:
                        reply = await client.get(f"http://127.0.0.1:{admins[name]}/ready")
                    except httpx.TransportError:
                        return False
                    return reply.status_code == 200

                await wait_for(ready, f"the {name} stack's Envoy to be ready on admin port {admins[name]}")
        for name, data in stacks.items():
            assert f"port_value: {admins[name]}" in (data / "envoy.yaml").read_text()
    finally:
        for process in launched.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            stop_process(process)


@pytest.mark.parametrize("command", [[], ["--port", "{port}", "--workers", "2"]], ids=["one", "workers"])
@pytest.mark.parametrize("outbox", ["off", "on"])
@pytest.mark.parametrize("fault", ["data dir under a file", "database not a database"])
def test_an_unusable_data_dir_ends_serve_with_one_line(
    tmp_path: Path, command: list[str], outbox: str, fault: str
) -> None:
    """A path under a regular file can never be a directory (a permission error cannot be made
    as root); a database file that is not SQLite made Tortoise wait forever, silently. Either is
    one line naming the path and the variable to change."""
    (tmp_path / "a-file").write_text("")
    data = tmp_path / "a-file" / "data"
    if fault == "database not a database":
        data = tmp_path / "data"
        data.mkdir()
        (data / "throttling.sqlite3").write_bytes(b"not a database " * 512)
    env = child_environment(
        THROTTLING_DATA_DIR=str(data), THROTTLING_OUTBOX=outbox, THROTTLING_GRPC_PORT=str(free_port())
    )
    result = run([*SERVE, *(a.format(port=free_port()) for a in command)], env, tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert str(data) in result.stderr and "THROTTLING_DATA_DIR" in result.stderr


def test_a_journal_held_by_a_live_server_ends_serve_with_one_line(tmp_path: Path) -> None:
    """A second server on the same data directory and worker index must not share the journal;
    it says so (which journal, which process, what to change) on one line."""
    holder = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.journal_holder", str(tmp_path / "outbox-0"), "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().startswith("ready"), "holder died"
        env = child_environment(
            THROTTLING_DATA_DIR=str(tmp_path), THROTTLING_OUTBOX="on", THROTTLING_GRPC_PORT=str(free_port())
        )
        result = run(SERVE, env, tmp_path)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        stop_process(holder)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"pid {holder.pid}" in result.stderr and "THROTTLING_WORKER_INDEX" in result.stderr
