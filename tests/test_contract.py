"""The proto contract: buf lint clean, and gen/ exactly what `make gen` produces."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

import pytest

from tools import generate


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


def test_the_ui_bundle_imports_the_gen_ts_generated_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One run is enough after a proto change: /ui is bundled from the gen/ts of the same run
    (it was bundled from the checkout's, so a proto change needed `make gen` twice)."""
    marker = 'globalThis.bundledWith = "the gen/ts of this run";'
    real_generate = generate.generate

    def generate_then_mark(out: Path) -> None:
        real_generate(out)
        with (out / "ts" / "throttling" / "v1" / "throttling_service_pb.ts").open("a") as module:
            module.write(marker + "\n")

    monkeypatch.setattr(generate, "generate", generate_then_mark)
    monkeypatch.setattr(sys, "argv", ["generate.py", "--out", str(tmp_path / "gen")])
    generate.main()
    assert (
        'globalThis.bundledWith = "the gen/ts of this run";'
        in (tmp_path / "gen" / "web" / "ui" / "app.js").read_text()
    )


def test_a_failed_bundle_leaves_gen_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The /ui bundle is the last step (e.g. after a proto change that main.ts no longer
    compiles against): when it fails, no directory of gen/ has been replaced yet."""
    out = tmp_path / "gen"
    for name in generate.GENERATED:
        (out / name).mkdir(parents=True)
        (out / name / "before").write_text(name)

    def failing_bundle(*_: object) -> None:
        raise SystemExit("esbuild failed")

    monkeypatch.setattr(generate, "generate_web", failing_bundle)
    monkeypatch.setattr(sys, "argv", ["generate.py", "--out", str(out)])
    with pytest.raises(SystemExit, match="esbuild failed"):
        generate.main()
    assert {str(p.relative_to(out)) for p in out.rglob("*")} == {
        path for name in generate.GENERATED for path in (name, f"{name}/before")
    }
