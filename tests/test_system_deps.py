"""tools/ensure-system-deps: `make test` and `make up` install or ask for their system packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "tools" / "ensure-system-deps"
#: Every Postgres server binary the script looks for in THROTTLING_PG_BIN.
POSTGRES_TOOLS = ("initdb", "pg_ctl", "pg_basebackup", "psql")


def run(
    target: str, bin_dir: Path, pg_bin: Path, sbin: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The script with only `bin_dir` on PATH (and `sbin` as its system directories, none by
    default), in check mode: it never installs here."""
    env = {
        "PATH": str(bin_dir),
        "PYTHON": sys.executable,
        "THROTTLING_PG_BIN": str(pg_bin),
        "ENSURE_SYSTEM_DEPS": "check",
        "ENSURE_SYSTEM_DEPS_SBIN": "" if sbin is None else str(sbin),
    }
    return subprocess.run(
        ["/bin/bash", str(SCRIPT), target], env=env, capture_output=True, text=True, timeout=60
    )


def tools_dir(directory: Path, *present: str) -> Path:
    """A PATH directory holding the tools the script itself runs, plus stand-ins for `present`
    (the script only asks whether they exist), so the outcome does not depend on this machine."""
    directory.mkdir(parents=True)
    for name in ("dirname", "id", "awk", "apt-get"):
        found = shutil.which(name, path=os.environ["PATH"] + ":/usr/sbin:/sbin")
        if found is not None:
            (directory / name).symlink_to(found)
    for name in present:
        stand_in = directory / name
        stand_in.write_text("#!/bin/sh\nexit 0\n")
        stand_in.chmod(0o755)
    return directory


def missing(target: str, packages: str) -> str:
    """What the script says when `packages` are missing, as this user on this machine."""
    if shutil.which("apt-get") is None:
        return f"make {target} needs (install them with your package manager): {packages}"
    sudo = "" if os.geteuid() == 0 else "sudo "
    return (
        f"make {target} needs system packages that are missing: {packages}. "
        f"Run: {sudo}apt-get install -y --no-install-recommends {packages}"
    )


def test_missing_packages_stop_make_test_with_the_command_to_run(tmp_path: Path) -> None:
    result = run("test", tools_dir(tmp_path / "bin", "node", "npm"), tmp_path / "no-postgres")
    assert result.returncode == 1
    packages = "golang-grpc-gateway postgresql-15 haproxy pgbouncer docker-compose chromium"
    assert result.stderr.strip() == missing("test", packages)
    assert result.stdout == ""


def test_make_up_needs_no_node_nor_test_tools(tmp_path: Path) -> None:
    assert run("up", tools_dir(tmp_path / "bin"), tmp_path / "no-postgres").returncode == 0
    result = run("install", tools_dir(tmp_path / "again"), tmp_path / "no-postgres")
    assert result.stderr.strip() == missing("install", "nodejs npm golang-grpc-gateway")


def test_tools_in_sbin_count_as_installed_off_the_callers_path(tmp_path: Path) -> None:
    """Run by hand as a normal user (no /usr/sbin on PATH), the script agrees with `make test`,
    which adds it: haproxy and pgbouncer there are installed, not missing."""
    bin_dir = tools_dir(tmp_path / "bin", "node", "npm", "protoc-gen-swagger", "docker-compose", "chromium")
    pg_bin = tools_dir(tmp_path / "postgres", *POSTGRES_TOOLS)
    sbin = tools_dir(tmp_path / "sbin", "haproxy", "pgbouncer")
    result = run("test", bin_dir, pg_bin, sbin)
    assert (result.returncode, result.stderr) == (0, "")
    assert run("test", bin_dir, pg_bin).stderr.strip() == missing("test", "haproxy pgbouncer")
