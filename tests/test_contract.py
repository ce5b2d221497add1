"""The proto contract: buf lint clean, and gen/ exactly what `make gen` produces."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

import pytest


def test_buf_lint_is_clean(repo_root: Path) -> None:
    buf = repo_root / "node_modules" / ".bin" / "buf"
    if not buf.exists():
        pytest.fail("buf is missing: `make install` installs it from npm")
    result = subprocess.run([str(buf), "lint"], cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def differences(left: Path, right: Path) -> list[str]:
    compared = filecmp.dircmp(left, right, ignore=["__pycache__"])
    out = [f"only in gen/: {n}" for n in compared.left_only] + [f"missing: {n}" for n in compared.right_only]
    out += [f"stale: {n}" for n in compared.diff_files]
    for name, sub in compared.subdirs.items():
        out += [f"{name}/{d}" for d in differences(Path(sub.left), Path(sub.right))]
    return out


def test_generated_code_is_up_to_date(repo_root: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "tools/generate.py", "--out", str(tmp_path / "gen")],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr  # e.g. the command that installs protoc-gen-swagger
    stale = differences(repo_root / "gen", tmp_path / "gen")
    assert not stale, f"gen/ is stale, run `make gen`: {stale}"
