"""Regenerate everything in gen/ from proto/: one command, deterministic output.

- gen/python/throttling/...          grpcio-tools messages, stubs and .pyi type stubs
- gen/python/throttling_client/...   betterproto2 typed client (sync over grpcio, async over grpclib)
- gen/descriptor/throttling.binpb    descriptor set with imports, read by Envoy's transcoder

Usage: python tools/generate.py [--out DIR]   (DIR defaults to gen/; tests pass a temp dir)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
THIRD_PARTY = ROOT / "third_party" / "proto"
# Envoy must know google.rpc.BadRequest to render error details as JSON.
EXTRA_DESCRIPTOR_INPUTS = ["google/rpc/error_details.proto"]


def proto_files() -> list[str]:
    return sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))


def protoc(*args: str) -> None:
    """Run grpcio-tools' bundled protoc with our include paths and the well-known types."""
    well_known = resources.files("grpc_tools") / "_proto"
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{THIRD_PARTY}",
        f"-I{well_known}",
        *args,
    ]
    # Plugins (protoc-gen-python_betterproto2) and ruff, which betterproto2 runs, live beside python.
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)


def generate(out: Path) -> None:
    files = proto_files()
    python_out = out / "python"
    client_out = python_out / "throttling_client"
    descriptor_out = out / "descriptor"
    for path in (python_out, descriptor_out):
        if path.exists():
            shutil.rmtree(path)
    client_out.mkdir(parents=True)
    descriptor_out.mkdir(parents=True)

    protoc(f"--python_out={python_out}", f"--pyi_out={python_out}", f"--grpc_python_out={python_out}", *files)
    for module in python_out.rglob("*_pb2.py"):
        directory = module.parent
        while directory != python_out:
            (directory / "__init__.py").touch()
            directory = directory.parent

    protoc(
        f"--python_betterproto2_out={client_out}",
        "--python_betterproto2_opt=client_generation=sync_async",
        *files,
    )
    (client_out / "__init__.py").write_text(
        '"""Typed betterproto2 client for throttling.v1 (generated)."""\n'
    )

    protoc(
        "--include_imports",
        f"--descriptor_set_out={descriptor_out / 'throttling.binpb'}",
        *files,
        *EXTRA_DESCRIPTOR_INPUTS,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "gen")
    args = parser.parse_args()
    out: Path = args.out.resolve()
    # Generate next to the target, then swap, so a failed run never leaves gen/ half-written.
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        staging = Path(tmp) / "gen"
        generate(staging)
        for name in ("python", "descriptor"):
            if (out / name).exists():
                shutil.rmtree(out / name)
            out.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staging / name), str(out / name))


if __name__ == "__main__":
    main()
