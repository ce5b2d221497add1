"""The TypeScript client (clients/ts over gen/ts) against a real server: tsc type-checks it (and
the /ui page built on it), then Node runs clients/ts/test/live.test.ts over each transport:
native gRPC to the server, gRPC-Web through Envoy."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import EnvoyProcess
from throttling_sequencer.app import Application

LIVE_TEST = "clients/ts/test/live.test.ts"
#: Tests per transport in LIVE_TEST: a unary call, both server streams, an error.
TESTS_PER_TRANSPORT = 4


def node(repo_root: Path) -> str:
    binary = shutil.which("node")
    if binary is None or not (repo_root / "node_modules" / "tsx").exists():
        pytest.fail("node and the npm tools are needed: `make install`")
    return binary


async def run_live_test(repo_root: Path, **urls: str) -> str:
    """Run LIVE_TEST with the given THROTTLING_*_URL variables; its TAP output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("THROTTLING_GRPC")} | urls
    process = await asyncio.create_subprocess_exec(
        node(repo_root),
        "--import",
        "tsx",
        "--test",
        "--test-reporter=tap",
        LIVE_TEST,
        cwd=repo_root,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=180)
    finally:
        if process.returncode is None:  # timed out: leave nothing running
            process.kill()
            await process.wait()
    text = output.decode()
    assert process.returncode == 0, text
    assert re.search(r"^# fail 0$", text, re.MULTILINE), text
    return text


@pytest.mark.parametrize("project", ["clients/ts", "clients/web"])
def test_the_client_and_the_web_page_type_check(repo_root: Path, project: str) -> None:
    tsc = repo_root / "node_modules" / ".bin" / "tsc"
    node(repo_root)
    result = subprocess.run(
        [str(tsc), "-p", project], cwd=repo_root, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def test_the_client_over_grpc(app: Application, repo_root: Path) -> None:
    output = await run_live_test(repo_root, THROTTLING_GRPC_URL=f"http://127.0.0.1:{app.port}")
    assert re.search(r"^ok \d+ - over gRPC$", output, re.MULTILINE), output
    assert re.search(rf"^# pass {TESTS_PER_TRANSPORT}$", output, re.MULTILINE), output


async def test_the_client_over_grpc_web(envoy: EnvoyProcess, repo_root: Path) -> None:
    """The browser transport (connect-web over fetch) through Envoy's grpc_web filter."""
    output = await run_live_test(repo_root, THROTTLING_GRPC_WEB_URL=envoy.url)
    assert re.search(r"^ok \d+ - over gRPC-Web$", output, re.MULTILINE), output
    assert re.search(rf"^# pass {TESTS_PER_TRANSPORT}$", output, re.MULTILINE), output
