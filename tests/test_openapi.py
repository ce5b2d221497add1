"""The OpenAPI document in gen/openapi: valid, complete for every REST route, and its docs page
(served at /docs: tests/integration/test_web_pages.py renders it in a browser)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from tools.generate import INSTALL_SWAGGER, OPENAPI_NAME
from tools.openapi_spec import BARE_ARRAY_ROUTES, HEALTH_PATH

ERROR_STATUSES = {"400", "429", "503", "default"}
#: Redocly CLI: no telemetry, no update check (the lint runs offline).
REDOCLY_OFFLINE = {"REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}


@pytest.fixture(scope="module")
def document(repo_root: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((repo_root / "gen" / "openapi" / OPENAPI_NAME).read_text())
    return loaded


def http_rules(repo_root: Path) -> dict[tuple[str, str], descriptor_pb2.MethodDescriptorProto]:
    """(verb, OpenAPI path) of every RPC with a google.api.http rule, from the descriptor set."""
    descriptors = descriptor_pb2.FileDescriptorSet.FromString(
        (repo_root / "gen" / "descriptor" / "throttling.binpb").read_bytes()
    )
    rules = {}
    for file in descriptors.file:
        for service in file.service:
            for method in service.method:
                rule = method.options.Extensions[annotations_pb2.http]
                verb = rule.WhichOneof("pattern")
                if verb is not None:
                    rules[verb, re.sub(r"\{([^}=]+)=[^}]*\}", r"{\1}", getattr(rule, verb))] = method
    return rules


def test_redocly_lint_is_clean(repo_root: Path) -> None:
    """recommended-strict rules (redocly.yaml): structure, refs, operation ids, error responses."""
    redocly = repo_root / "node_modules" / ".bin" / "redocly"
    if not redocly.exists():
        pytest.fail("redocly is missing: `make install` installs it from npm")
    result = subprocess.run(
        [str(redocly), "lint", f"gen/openapi/{OPENAPI_NAME}", "--format=stylish"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **REDOCLY_OFFLINE},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rest_route_of_the_proto_is_documented(repo_root: Path, document: dict[str, Any]) -> None:
    rules = http_rules(repo_root)
    assert len(rules) >= 7
    documented = {(verb, path) for path, item in document["paths"].items() for verb in item}
    assert documented == set(rules) | {("get", HEALTH_PATH)}
    for (verb, path), method in rules.items():
        operation = document["paths"][path][verb]
        assert operation["operationId"] == method.name
        assert operation["summary"], f"{method.name} has no comment in the proto"
        assert set(operation["responses"]) >= ERROR_STATUSES, method.name
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        if method.server_streaming or path in BARE_ARRAY_ROUTES:
            assert schema["type"] == "array", method.name
        else:
            assert "$ref" in schema, method.name


def test_the_shapes_only_envoy_knows(document: dict[str, Any]) -> None:
    def ok(path: str) -> Any:
        return document["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]

    assert ok("/api/v1/throttle/calculate_throttle_steps") == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/v1UnitGoal"},
    }
    assert ok("/api/v1/throttle/stream_throttle_steps") == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/v1StreamThrottleStepsResponse"},
    }
    assert ok("/api/v1/plans:stream")["items"] == {
        "$ref": "#/components/schemas/v1StreamPlanProgressResponse"
    }
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["code", "message"]
    assert set(error["properties"]) == {"code", "message", "details", "status"}
    # Planner options of the body-is-the-game-state routes are query parameters.
    calculate = document["paths"]["/api/v1/throttle/calculate_throttle_steps"]["post"]
    names = {parameter["name"] for parameter in calculate["parameters"]}
    assert {"options.strategy", "options.seed", "options.max_ticks"} <= names
    assert not {name for name in names if name.startswith("game_state")}


def test_the_docs_page_loads_nothing_from_elsewhere(repo_root: Path) -> None:
    """/docs is Redoc from npm beside the page, reading the document from the same origin."""
    page = (repo_root / "gen" / "web" / "docs" / "index.html").read_text()
    assert '<script type="module" src="/docs/redoc.standalone.js">' in page
    assert 'spec-url="/api/v1/openapi.json"' in page and 'disable-telemetry="true"' in page
    assert not re.findall(r"""(?:src|href)=["'](?:https?:)?//""", page)


def test_generation_stops_with_the_install_command_without_protoc_gen_swagger(
    repo_root: Path, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "tools/generate.py", "--out", str(tmp_path / "gen")],
        cwd=repo_root,
        env={**os.environ, "PROTOC_GEN_SWAGGER": str(tmp_path / "missing")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert INSTALL_SWAGGER in result.stderr.splitlines()[-1]
    assert not (tmp_path / "gen").exists()
