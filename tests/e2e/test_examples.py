"""The examples in examples/ run as documented against a real server: given its address, or
finding it in THROTTLING_GRPC_PORT as `make up` does."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import free_port
from throttling_sequencer.app import Application


async def run(repo_root: Path, script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(repo_root / "examples" / script), *args],
        env={k: v for k, v in os.environ.items() if not k.startswith("THROTTLING_")} | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_sync_engine_example(app: Application, repo_root: Path) -> None:
    result = await run(repo_root, "engine_sync.py", f"127.0.0.1:{app.port}")
    assert result.returncode == 0, result.stderr
    assert "score" in result.stdout and "tick   1:" in result.stdout and "done:" in result.stdout


async def test_async_engine_example(app: Application, repo_root: Path) -> None:
    result = await run(repo_root, "engine_async.py", THROTTLING_GRPC_PORT=str(app.port))
    assert result.returncode == 0, result.stderr
    assert "generation" in result.stdout and "stored" in result.stdout


async def test_batch_engine_example(app: Application, repo_root: Path) -> None:
    result = await run(repo_root, "engine_batch.py", f"127.0.0.1:{app.port}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "whole squad: 8 plans" in lines
    assert sum("ticks, score" in line for line in lines) == 8 + 2
    assert lines[-3].startswith("  scout 0 -> outpost 0: ")  # an assignment of zeros is still shown
    assert lines[-1].startswith(
        "  scout 3 -> outpost 9: not planned: invalid request: assignments[2].enemy_index"
    )
    assert "must be in [0, 2], got 9" in lines[-1]


async def test_guided_engine_example(app: Application, repo_root: Path) -> None:
    result = await run(repo_root, "engine_guided.py", f"127.0.0.1:{app.port}", "7")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.split()}
    assert rows["open-loop"][-1] == "no" and rows["guided"][-1] == "yes", result.stdout
    assert "re-plans" in result.stdout


@pytest.mark.parametrize(
    ("script", "address"),
    [
        ("engine_sync.py", "127.0.0.1:{port}"),
        ("engine_async.py", "127.0.0.1 {port}"),
        ("engine_batch.py", "127.0.0.1:{port}"),
        ("engine_guided.py", "127.0.0.1:{port}"),
    ],
)
async def test_an_example_without_a_server_says_so_in_one_line(
    repo_root: Path, script: str, address: str
) -> None:
    port = free_port()  # nothing listens there
    result = await run(repo_root, script, *address.format(port=port).split())
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"no server answers at 127.0.0.1:{port}: start one with `make up`"), line
