"""`make up`'s stack (python -m bridge.stack) as a user runs it: start, call, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support import DEFAULT_STATE_JSON, free_port, stop_process, wait_until


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def port_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_stack_serves_rest_graphql_and_grpc_then_stops_on_ctrl_c(repo_root: Path, tmp_path: Path) -> None:
    grpc_port, envoy_port, admin_port, graphql_port = free_port(), free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "THROTTLING_GRPC_PORT": str(grpc_port),
        "THROTTLING_ENVOY_PORT": str(envoy_port),
        "THROTTLING_ENVOY_ADMIN_PORT": str(admin_port),
        "THROTTLING_GRAPHQL_PORT": str(graphql_port),
        "THROTTLING_METRICS_PORT": str(free_port()),
        "THROTTLING_DATA_DIR": str(tmp_path / "data"),
    }
    url = f"http://127.0.0.1:{envoy_port}"
    log = (tmp_path / "stack.log").open("wb")
    stack = subprocess.Popen(
        [sys.executable, "-m", "bridge.stack"], cwd=repo_root, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:

        def announced() -> bool:
            output = (tmp_path / "stack.log").read_text()
            assert stack.poll() is None, output
            return "stack up:" in output

        wait_until(announced, what="the stack to say it is up")
        said = next(line for line in (tmp_path / "stack.log").read_text().splitlines() if "stack up:" in line)
        assert f"{url}/ui" in said and f"{url}/docs" in said, said  # where a new user goes next
        # Once it says so, a user's first calls succeed: it is not said before it is true.
        assert healthy(url), f"{url}/api/v1/health is not 200 although the stack said it was up"
        assert not port_closed(graphql_port), "the GraphQL sidecar is not listening although the stack is up"
        # The README's curl, verbatim in substance: a bare GameState in, a bare array out.
        goals = httpx.post(
            f"{url}/api/v1/throttle/calculate_throttle_steps",
            json=DEFAULT_STATE_JSON,
            params={"options.timeBudgetMs": "200"},
            timeout=30,
        ).json()
        assert isinstance(goals, list) and goals
        plans = httpx.get(f"{url}/api/v1/plans").json()["plans"]
        assert [g["throttle"] for g in plans[0]["goals"]] == [g["throttle"] for g in goals]
        grpcurl = Path(sys.executable).parent / "grpcurl"
        listed = subprocess.run(
            [str(grpcurl), "-plaintext", f"127.0.0.1:{grpc_port}", "list"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "throttling.v1.ThrottlingService" in listed.stdout
        assert (tmp_path / "data" / "throttling.sqlite3").exists()
        assert (tmp_path / "data" / "envoy.yaml").exists()  # its own, not a shared /tmp/envoy.yaml
        query = "{ plans(first: 1) { plans { id goals { throttle } } } }"
        graphql = httpx.post(f"{url}/graphql", json={"query": query}, timeout=30).json()
        assert graphql["data"]["plans"]["plans"][0]["id"] == plans[0]["planId"]

        stack.send_signal(signal.SIGINT)
        assert stack.wait(timeout=30) == 0
        for port in (grpc_port, envoy_port, admin_port, graphql_port):
            wait_until(lambda port=port: port_closed(port), what=f"port {port} to close")  # type: ignore[misc]
    finally:
        stop_process(stack)
        log.close()
    output = (tmp_path / "stack.log").read_text()
    assert "stack stopped" in output, output
    server_lines = [json.loads(line) for line in output.splitlines() if line.startswith('{"time"')]
    assert any(line["message"] == "stopped" for line in server_lines), "the server did not drain and stop"
