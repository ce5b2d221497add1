"""tools/ensure-system-deps: `make test` and `make up` install or ask for their system packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "tools" / "ensure-system-deps"


def run(target: str, bin_dir: Path, pg_bin: Path) -> subprocess.CompletedProcess[str]:
    """The script with only `bin_dir` on PATH, in check mode (it never installs here)."""
    env = {
        "PATH": str(bin_dir),
        "PYTHON": sys.executable,
        "THROTTLING_PG_BIN": str(pg_bin),
        "ENSURE_SYSTEM_DEPS": "check",
    }
    return subprocess.run(
        ["/bin/bash", str(SCRIPT), target], env=env, capture_output=True, text=True, timeout=60
    )


def tools_dir(tmp_path: Path, *names: str) -> Path:
    """A PATH directory holding only the tools the script itself uses, plus `names`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("dirname", "id", "awk", "apt-get", *names):
        found = shutil.which(name, path=os.environ["PATH"] + ":/usr/sbin:/sbin")
        if found is not None:
            (bin_dir / name).symlink_to(found)
    return bin_dir


def test_missing_packages_stop_make_test_with_the_command_to_run(tmp_path: Path) -> None:
    result = run("test", tools_dir(tmp_path, "node", "npm"), tmp_path / "no-postgres")
    assert result.returncode == 1
    packages = "golang-grpc-gateway postgresql-15 haproxy pgbouncer docker-compose"
    sudo = "" if os.geteuid() == 0 else "sudo "
    if shutil.which("apt-get") is None:
        expected = f"make test needs (install them with your package manager): {packages}"
    else:
        expected = (
            f"make test needs system packages that are missing: {packages}. "
            f"Run: {sudo}apt-get install -y --no-install-recommends {packages}"
        )
    assert result.stderr.strip() == expected
    assert result.stdout == ""


def test_make_up_needs_no_node_nor_test_tools(tmp_path: Path) -> None:
    assert run("up", tools_dir(tmp_path), tmp_path / "no-postgres").returncode == 0
    result = run("install", tools_dir(tmp_path / "again"), tmp_path / "no-postgres")
    assert "missing: nodejs npm golang-grpc-gateway." in result.stderr
