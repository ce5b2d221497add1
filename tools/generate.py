"""Regenerate everything in gen/ from proto/: one command, deterministic output.

- gen/python/throttling/...          grpcio-tools messages, stubs and .pyi type stubs
- gen/python/throttling_client/...   betterproto2 typed client (sync over grpcio, async over grpclib)
- gen/descriptor/throttling.binpb    descriptor set with imports, read by Envoy's transcoder
- gen/ts/...                         TypeScript messages and service descriptors (protoc-gen-es),
                                     called through @connectrpc/connect (clients/ts)
- gen/openapi/throttling.openapi.json  OpenAPI 3 of the REST routes: protoc-gen-swagger (OpenAPI 2,
                                     Debian's golang-grpc-gateway), swagger2openapi, then
                                     tools/openapi_spec.py adds what only Envoy knows
- gen/kubernetes/...                 Envoy's ConfigMap for deploy/kubernetes (rendered by bridge.envoy)
- gen/web/ui/...                     the /ui page: clients/web/ui bundled by esbuild (with clients/ts
                                     and gen/ts), its HTML and CSS
- gen/web/docs/...                   the /docs page: Redoc's standalone bundle (from the pinned
                                     @redocly/cli on npm) and a page that loads the OpenAPI document

Envoy serves gen/openapi and gen/web itself (bridge/envoy/config.py: PAGES). They are committed,
so `make up`, the image and Kubernetes need no Node.

Usage: python tools/generate.py [--out DIR]   (DIR defaults to gen/; tests pass a temp dir)
Needs `make install` (the venv and node_modules) and protoc-gen-swagger on PATH (or in
$PROTOC_GEN_SWAGGER): `apt-get install golang-grpc-gateway`.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python tools/generate.py` runs from tools/; import as tools.*

from bridge.envoy import render  # noqa: E402
from bridge.envoy.config import PAGES  # noqa: E402
from bridge.envoy.settings import EnvoySettings  # noqa: E402
from bridge.graphql.settings import GraphQLSettings  # noqa: E402
from bridge.settings import BridgeSettings  # noqa: E402
from tools.openapi_spec import complete  # noqa: E402

PROTO_ROOT = ROOT / "proto"
THIRD_PARTY = ROOT / "third_party" / "proto"
NODE_BIN = ROOT / "node_modules" / ".bin"
# Envoy must know google.rpc.BadRequest to render error details as JSON.
EXTRA_DESCRIPTOR_INPUTS = ["google/rpc/error_details.proto"]
OPENAPI_NAME = "throttling.openapi.json"
WEB_SOURCES = ROOT / "clients" / "web"
#: Redoc's standalone bundle, as the pinned @redocly/cli ships it (its build-docs inlines it).
REDOC_BUNDLE = ROOT / "node_modules" / "@redocly" / "cli" / "lib" / "chunks" / "redoc.standalone.js"
#: Where the container image keeps gen/ (Dockerfile).
IMAGE_GEN_DIR = Path("/app/gen")
# Envoy in Kubernetes (deploy/kubernetes): Services named as there; the descriptor is mounted
# from the same ConfigMap, the pages (too large for a ConfigMap) come from the image. No page on
# another origin may call the cluster (the development default allows localhost): list your web
# apps' origins here, then `make gen`.
KUBERNETES_ENVOY = BridgeSettings(
    grpc_host="throttling-server",
    envoy=EnvoySettings(host="0.0.0.0", gen_dir=IMAGE_GEN_DIR),
    graphql=GraphQLSettings(host="throttling-graphql"),
    cors_origins=(),
)
KUBERNETES_ENVOY_DIR = Path("/etc/envoy")
INSTALL_SWAGGER = "apt-get install -y golang-grpc-gateway"


def proto_files() -> list[str]:
    return sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))


def third_party_files() -> list[str]:
    return sorted(str(p.relative_to(THIRD_PARTY)) for p in THIRD_PARTY.rglob("*.proto"))


def swagger_plugin() -> Path:
    """protoc-gen-swagger from $PROTOC_GEN_SWAGGER or PATH, or stop with the command to run."""
    configured = os.environ.get("PROTOC_GEN_SWAGGER") or shutil.which("protoc-gen-swagger")
    if not configured or not os.access(configured, os.X_OK):
        command = INSTALL_SWAGGER if os.geteuid() == 0 else f"sudo {INSTALL_SWAGGER}"
        raise SystemExit(
            f"protoc-gen-swagger not found{f' at {configured}' if configured else ''}: "
            f"it is in Debian's golang-grpc-gateway. Run: {command}"
        )
    return Path(configured)


def node_tool(name: str) -> Path:
    tool = NODE_BIN / name
    if not tool.exists():
        raise SystemExit(f"{tool.relative_to(ROOT)} not found: run `make install` (npm tools)")
    return tool


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
    swagger = swagger_plugin()
    protoc_gen_es = node_tool("protoc-gen-es")
    swagger2openapi = node_tool("swagger2openapi")
    files = proto_files()
    python_out = out / "python"
    client_out = python_out / "throttling_client"
    descriptor_out = out / "descriptor"
    ts_out = out / "ts"
    for path in (python_out, descriptor_out, ts_out):
        if path.exists():
            shutil.rmtree(path)
    client_out.mkdir(parents=True)
    descriptor_out.mkdir(parents=True)
    ts_out.mkdir(parents=True)

    protoc(f"--python_out={python_out}", f"--pyi_out={python_out}", f"--grpc_python_out={python_out}", *files)
    for module in python_out.rglob("*_pb2.py"):
        directory = module.parent
        while directory != python_out:
            (directory / "__init__.py").touch()
            directory = directory.parent

    # With google.rpc's error details, so a client unpacks a batch result's BadRequest.
    protoc(
        f"--python_betterproto2_out={client_out}",
        "--python_betterproto2_opt=client_generation=sync_async",
        *files,
        *EXTRA_DESCRIPTOR_INPUTS,
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

    # google/protobuf types come from @bufbuild/protobuf/wkt; google/api and google/rpc are
    # generated beside ours (the client decodes google.rpc.BadRequest error details).
    protoc(
        f"--plugin=protoc-gen-es={protoc_gen_es}",
        f"--es_out={ts_out}",
        "--es_opt=target=ts,import_extension=js",
        *files,
        *third_party_files(),
    )

    generate_openapi(out / "openapi", files, swagger, swagger2openapi)
    generate_kubernetes(out / "kubernetes", descriptor_out / "throttling.binpb")


def generate_openapi(out: Path, files: list[str], swagger: Path, swagger2openapi: Path) -> None:
    """OpenAPI 2 from the http annotations and comments, converted to 3.0, then completed."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        descriptor_set = work / "source.binpb"
        protoc("--include_imports", "--include_source_info", f"--descriptor_set_out={descriptor_set}", *files)
        descriptors = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
        swagger_doc = work / "throttling.swagger.json"
        swagger_doc.write_bytes(
            run_plugin(swagger, descriptors, files, "allow_merge=true,json_names_for_fields=true")
        )
        converted = work / "throttling.openapi.json"
        subprocess.run(
            [str(swagger2openapi), "--outfile", str(converted), str(swagger_doc)],
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        document: dict[str, Any] = json.loads(converted.read_text())
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    license_name = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    text = json.dumps(complete(document, descriptors, license_name), indent=2, ensure_ascii=False)
    (out / OPENAPI_NAME).write_text(text + "\n")


def run_plugin(
    plugin: Path, descriptors: descriptor_pb2.FileDescriptorSet, files: list[str], parameter: str
) -> bytes:
    """Run a protoc plugin on protoc's parse of `files`; its one output file's content.

    protoc-gen-swagger 1.6 predates proto3 `optional` and does not declare support for it, so
    protoc refuses to run it. It reads such a field as a plain one, which is its JSON shape, so
    the request protoc would send is built here from protoc's own descriptor set instead.
    """
    request = plugin_pb2.CodeGeneratorRequest(file_to_generate=files, parameter=parameter)
    request.proto_file.extend(descriptors.file)  # protoc writes them dependencies first
    result = subprocess.run(
        [str(plugin)], input=request.SerializeToString(), capture_output=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"{plugin} failed: {result.stderr.decode(errors='replace')}")
    response = plugin_pb2.CodeGeneratorResponse.FromString(result.stdout)
    if response.error or len(response.file) != 1:
        raise SystemExit(f"{plugin}: {response.error or [f.name for f in response.file]}")
    return response.file[0].content.encode()


class _Literal(str):
    """A string YAML writes as a literal block (the Envoy config stays readable in the ConfigMap)."""


def _literal(dumper: yaml.SafeDumper, text: _Literal) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|")


yaml.SafeDumper.add_representer(_Literal, _literal)


def generate_kubernetes(out: Path, descriptor: Path) -> None:
    """Envoy's config for Kubernetes and the descriptor it reads, as one ConfigMap."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "throttling-envoy",
            "labels": {
                "app.kubernetes.io/name": "throttling-envoy",
                "app.kubernetes.io/part-of": "throttling",
            },
            "annotations": {"throttling/generated-by": "make gen (tools/generate.py): do not edit"},
        },
        "data": {"envoy.yaml": _Literal(render(KUBERNETES_ENVOY, KUBERNETES_ENVOY_DIR / descriptor.name))},
        "binaryData": {descriptor.name: base64.b64encode(descriptor.read_bytes()).decode()},
    }
    header = "# Generated by `make gen` (tools/generate.py) from bridge/envoy: do not edit.\n"
    (out / "envoy-config.yaml").write_text(header + yaml.safe_dump(config_map, sort_keys=False, width=100))
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["envoy-config.yaml"],
    }
    (out / "kustomization.yaml").write_text(header + yaml.safe_dump(kustomization, sort_keys=False))


def generate_web(gen: Path) -> None:
    """The pages Envoy serves, in gen/web: /ui (esbuild bundle of clients/web/ui) and /docs (Redoc).

    The bundle imports gen/ts through clients/ts (`../../../gen/ts/...`), so it is built in a
    copy of the checkout's layout around `gen` (its parent, a scratch directory: clients and
    node_modules linked in, symlinks kept as they are), against the gen/ts just generated there,
    not the checkout's: one `make gen` is enough after a proto change, and a failed bundle leaves
    the checkout's gen/ as it was.
    """
    esbuild = node_tool("esbuild")
    if not REDOC_BUNDLE.exists():
        raise SystemExit(f"{REDOC_BUNDLE.relative_to(ROOT)} not found: run `make install` (npm tools)")
    layout = gen.parent
    for name in ("clients", "node_modules"):
        (layout / name).symlink_to(ROOT / name, target_is_directory=True)
    out = gen / "web"
    if out.exists():
        shutil.rmtree(out)
    (out / "ui").mkdir(parents=True)
    (out / "docs").mkdir(parents=True)
    for name in ("index.html", "app.css", "icon.svg"):
        shutil.copyfile(WEB_SOURCES / "ui" / name, out / "ui" / name)
    # Not minified: the committed bundle stays readable, and its diffs say what changed.
    subprocess.run(
        [
            str(esbuild),
            str((WEB_SOURCES / "ui" / "src" / "main.ts").relative_to(ROOT)),
            "--bundle",
            "--preserve-symlinks",
            "--format=esm",
            "--target=es2022",
            "--log-level=warning",
            f"--outfile={out / 'ui' / 'app.js'}",
        ],
        check=True,
        cwd=layout,  # the bundle's comments name its inputs relative to here, as in the checkout
    )
    shutil.copyfile(WEB_SOURCES / "docs" / "index.html", out / "docs" / "index.html")
    shutil.copyfile(REDOC_BUNDLE, out / "docs" / "redoc.standalone.js")


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
        generate_web(staging)
        missing = sorted(page.file for page in PAGES.values() if not (staging / page.file).is_file())
        if missing:
            raise SystemExit(f"Envoy serves files that were not generated: {missing}")
        out.mkdir(parents=True, exist_ok=True)
        for name in GENERATED:
            if (out / name).exists():
                shutil.rmtree(out / name)
            shutil.move(str(staging / name), str(out / name))


#: What generate() writes under --out, each replaced whole.
GENERATED = ("python", "descriptor", "ts", "openapi", "kubernetes", "web")


if __name__ == "__main__":
    main()
