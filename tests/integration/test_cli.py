"""`throttling-sequencer plan`: a readable table, and the server's validation rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import DEFAULT_STATE_JSON

CLI = [sys.executable, "-m", "throttling_sequencer.cli"]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True, timeout=120)


def test_plan_prints_one_row_per_tick_and_a_summary() -> None:
    result = run("plan", "--strategy", "random", "--seed", "3", "--target-x", "800")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["tick", "throttle", "speed", "covered", "remaining"]
    rows = [line for line in lines[1:] if line.strip() and line.split()[0].isdigit()]
    assert [int(r.split()[0]) for r in rows] == list(range(1, len(rows) + 1))
    assert "strategy random: score" in lines[-1]


def test_plan_reads_a_rest_body_from_a_file(tmp_path: Path) -> None:
    body = tmp_path / "state.json"
    body.write_text(json.dumps(DEFAULT_STATE_JSON))
    result = run("plan", str(body), "--strategy", "random")
    assert result.returncode == 0, result.stderr
    assert "strategy random" in result.stdout


def test_plan_rejects_invalid_input_like_the_server() -> None:
    result = run("plan", "--mass", "0", "--friction", "1.5")
    assert result.returncode == 2
    assert "game_state.player_units[0].mass" in result.stderr
    assert "game_state.player_units[0].friction" in result.stderr
    assert run("plan", "-", stdin="{not json").returncode == 2


def test_plan_draws_a_png(tmp_path: Path) -> None:
    picture = tmp_path / "plan.png"
    result = run("plan", "--target-x", "900", "--mass", "30", "--friction", "0.1", "--plot", str(picture))
    assert result.returncode == 0, result.stderr
    data = picture.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
