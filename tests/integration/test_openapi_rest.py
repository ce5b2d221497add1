"""The OpenAPI document against the real front door: every documented route answers through
Envoy with bodies that match the documented schemas, field for field, errors included."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from tests.support import DEFAULT_STATE_JSON
from tools.generate import OPENAPI_NAME

RANDOM = {"strategy": "STRATEGY_RANDOM", "seed": "4", "time_budget_ms": 200}


@pytest.fixture(scope="module")
def document(repo_root: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((repo_root / "gen" / "openapi" / OPENAPI_NAME).read_text())
    return loaded


def closed(schemas: dict[str, Any]) -> dict[str, Any]:
    """The schemas with additionalProperties false wherever unset: an undocumented field fails."""
    schemas = copy.deepcopy(schemas)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node:
                node.setdefault("additionalProperties", False)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schemas)
    return schemas


def check(document: dict[str, Any], response: httpx.Response, verb: str, path: str) -> None:
    """The body is what the document promises for this route and status."""
    responses = document["paths"][path][verb]["responses"]
    declared = responses.get(str(response.status_code), responses.get("default"))
    assert declared is not None, f"{verb} {path} answered undocumented {response.status_code}"
    if "$ref" in declared:
        declared = document["components"]["responses"][declared["$ref"].rsplit("/", 1)[-1]]
    if "content" not in declared:
        return
    schema = declared["content"]["application/json"]["schema"]
    root = {**schema, "components": {"schemas": closed(document["components"]["schemas"])}}
    jsonschema.Draft7Validator(root).validate(response.json())


async def test_every_documented_route_answers_as_documented(
    rest: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    created = await rest.post("/api/v1/plans", json={"gameState": DEFAULT_STATE_JSON, "options": RANDOM})
    assert created.status_code == 200, created.text
    plan_id = created.json()["plan"]["planId"]
    options = {f"options.{name}": str(value) for name, value in RANDOM.items()}
    calls: dict[str, tuple[str, str, dict[str, Any]]] = {
        "CalculateThrottleSteps": (
            "post",
            "/api/v1/throttle/calculate_throttle_steps",
            {"json": DEFAULT_STATE_JSON, "params": options},
        ),
        "CreatePlan": (
            "post",
            "/api/v1/plans",
            {"json": {"gameState": DEFAULT_STATE_JSON, "options": RANDOM}},
        ),
        "StreamThrottleSteps": (
            "post",
            "/api/v1/throttle/stream_throttle_steps",
            {"json": DEFAULT_STATE_JSON, "params": {**options, "tick_interval_ms": "0"}},
        ),
        "StreamPlanProgress": (
            "post",
            "/api/v1/plans:stream",
            {"json": {"gameState": DEFAULT_STATE_JSON, "options": RANDOM}},
        ),
        "GetStatus": ("get", "/api/v1/status", {}),
        "GetPlan": ("get", "/api/v1/plans/{plan_id}", {}),
        "ListPlans": ("get", "/api/v1/plans", {"params": {"page_size": "2"}}),
        "Health": ("get", "/api/v1/health", {}),
    }
    documented = {op["operationId"] for item in document["paths"].values() for op in item.values()}
    assert documented == set(calls), "a new route needs a call here"

    for name, (verb, path, arguments) in calls.items():
        url = path.replace("{plan_id}", plan_id)
        response = await rest.request(verb.upper(), url, **arguments)
        assert response.status_code == 200, f"{name}: {response.status_code} {response.text}"
        check(document, response, verb, path)
        if name == "Health":
            continue
        # Every route refuses an unknown query parameter with the documented error body.
        params = {**arguments.get("params", {}), "not_a_field": "1"}
        refused = await rest.request(verb.upper(), url, **{**arguments, "params": params})
        assert refused.status_code == 400, f"{name}: {refused.status_code} {refused.text}"
        check(document, refused, verb, path)


async def test_documented_errors_match_the_error_schema(
    rest: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    missing = await rest.get(f"/api/v1/plans/{uuid.uuid4()}")
    assert missing.status_code == 404
    check(document, missing, "get", "/api/v1/plans/{plan_id}")

    body = copy.deepcopy(DEFAULT_STATE_JSON)
    body["player_units"][0]["mass"] = -1
    invalid = await rest.post("/api/v1/throttle/calculate_throttle_steps", json=body)
    assert invalid.status_code == 400
    check(document, invalid, "post", "/api/v1/throttle/calculate_throttle_steps")
    types = {detail["@type"].rsplit(".", 1)[-1] for detail in invalid.json()["details"]}
    assert "BadRequest" in types

    malformed = await rest.post(
        "/api/v1/plans", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    check(document, malformed, "post", "/api/v1/plans")
