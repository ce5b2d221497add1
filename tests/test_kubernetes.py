"""deploy/kubernetes: strictly valid for Kubernetes 1.30, and the operational promises it makes
(probes, drain, non-root, read-only root, per-request balancing) hold between its numbers."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from bridge.envoy import envoy_binary
from bridge.envoy.config import CORS, PAGES
from bridge.stack import COMMANDS
from throttling_sequencer.container import SERVICE_NAME
from tools.generate import IMAGE_GEN_DIR, KUBERNETES_ENVOY, KUBERNETES_ENVOY_DIR

KUBERNETES_VERSION = "1.30.0"
#: What the server needs after its drain to flush the outbox and close storage.
FLUSH_MARGIN_SECONDS = 10


def manifests(directory: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every resource a kustomization lists, following nested kustomizations."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    for entry in kustomization["resources"]:
        path = (directory / entry).resolve()
        if path.is_dir():
            yield from manifests(path)
        else:
            for document in yaml.safe_load_all(path.read_text()):
                yield path, document


@pytest.fixture(scope="module")
def resources(repo_root: Path) -> dict[tuple[str, str], dict[str, Any]]:
    found = {
        (doc["kind"], doc["metadata"]["name"]): doc for _, doc in manifests(repo_root / "deploy/kubernetes")
    }
    return found


def pod(resource: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = resource["spec"]["template"]["spec"]
    return spec


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container.get("env", [])}


def test_every_manifest_is_valid_for_kubernetes_1_30_strictly(repo_root: Path) -> None:
    problems, checked = [], 0
    for path, document in manifests(repo_root / "deploy/kubernetes"):
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except jsonschema.ValidationError as error:
            problems.append(
                f"{path.name}: {document['kind']}/{document['metadata']['name']}: {error.message}"
            )
        checked += 1
    assert not problems, "\n".join(problems)
    assert checked >= 11


def test_the_stack_is_all_there(resources: dict[tuple[str, str], dict[str, Any]]) -> None:
    assert set(resources) == {
        ("StatefulSet", "throttling-server"),
        ("Service", "throttling-server"),
        ("HorizontalPodAutoscaler", "throttling-server"),
        ("PodDisruptionBudget", "throttling-server"),
        ("Deployment", "throttling-graphql"),
        ("Service", "throttling-graphql"),
        ("PodDisruptionBudget", "throttling-graphql"),
        ("Deployment", "throttling-envoy"),
        ("Service", "throttling-envoy"),
        ("PodDisruptionBudget", "throttling-envoy"),
        ("ConfigMap", "throttling-envoy"),
    }
    server = resources["StatefulSet", "throttling-server"]
    assert resources["Service", "throttling-server"]["spec"]["clusterIP"] == "None"
    assert server["spec"]["serviceName"] == "throttling-server"
    assert [claim["metadata"]["name"] for claim in server["spec"]["volumeClaimTemplates"]] == ["data"]
    hpa = resources["HorizontalPodAutoscaler", "throttling-server"]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": "throttling-server",
    }
    assert [metric["resource"]["name"] for metric in hpa["metrics"]] == ["cpu"]
    for kind, name in resources:
        if kind in ("StatefulSet", "Deployment"):
            selector = resources[kind, name]["spec"]["selector"]
            assert resources["PodDisruptionBudget", name]["spec"]["selector"] == selector, name


def test_pods_run_as_non_root_on_a_read_only_root_with_limits(
    resources: dict[tuple[str, str], dict[str, Any]],
) -> None:
    for (kind, name), resource in resources.items():
        if kind not in ("StatefulSet", "Deployment"):
            continue
        spec = pod(resource)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["automountServiceAccountToken"] is False, name
        mounted_volumes = {volume["name"] for volume in spec.get("volumes", [])} | {
            claim["metadata"]["name"] for claim in resource["spec"].get("volumeClaimTemplates", [])
        }
        for container in spec.get("initContainers", []) + spec["containers"]:
            where = f"{name}/{container['name']}"
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            assert "memory" in container["resources"]["limits"], where
            assert container["image"] == "throttling-sequencer", where
            mounts = {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}
            assert mounts["/tmp"] in mounted_volumes, where
            # Every directory the process writes to is a volume, not the read-only image.
            variables = env(container)
            for variable in ("THROTTLING_DATA_DIR", "NUMBA_CACHE_DIR"):
                if variable in variables:
                    assert any(variables[variable].startswith(path) for path in mounts), (where, variable)


def test_the_server_drains_before_it_is_killed(resources: dict[tuple[str, str], dict[str, Any]]) -> None:
    spec = pod(resources["StatefulSet", "throttling-server"])
    (server,) = spec["containers"]
    variables = env(server)
    assert server["command"] == ["python", *COMMANDS["grpc-server"]]
    assert variables["THROTTLING_DATABASE_URL"] == {
        "secretKeyRef": {"name": "throttling-database", "key": "THROTTLING_DATABASE_URL"}
    }
    assert variables["THROTTLING_OUTBOX"] == "on" and variables["THROTTLING_DATA_DIR"] == "/data"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert server[probe]["grpc"]["port"] == 50051, probe
    # The service whose health the server reports, and Envoy's active health check asks about.
    assert server["startupProbe"]["grpc"]["service"] == SERVICE_NAME
    assert server["readinessProbe"]["grpc"]["service"] == SERVICE_NAME
    pre_stop = server["lifecycle"]["preStop"]["sleep"]["seconds"]
    grace = float(variables["THROTTLING_SHUTDOWN_GRACE_SECONDS"])
    termination = spec["terminationGracePeriodSeconds"]
    assert termination >= pre_stop + grace + FLUSH_MARGIN_SECONDS
    # A draining server reports NOT_SERVING: liveness must not kill it before the drain ends.
    liveness = server["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] > termination
    (migrate,) = spec["initContainers"]
    assert migrate["command"] == ["python", "-m", "throttling_sequencer.cli", "migrate"]
    assert resources["StatefulSet", "throttling-server"]["spec"]["podManagementPolicy"] == "OrderedReady"


def test_envoy_balances_each_request_over_the_headless_service(
    resources: dict[tuple[str, str], dict[str, Any]],
) -> None:
    config = yaml.safe_load(resources["ConfigMap", "throttling-envoy"]["data"]["envoy.yaml"])
    clusters = {cluster["name"]: cluster for cluster in config["static_resources"]["clusters"]}
    grpc = clusters["grpc_server"]
    assert grpc["type"] == "STRICT_DNS"
    assert grpc.get("lb_policy", "ROUND_ROBIN") in ("ROUND_ROBIN", "LEAST_REQUEST")
    (address,) = [
        endpoint["endpoint"]["address"]["socket_address"]
        for group in grpc["load_assignment"]["endpoints"]
        for endpoint in group["lb_endpoints"]
    ]
    service = resources["Service", "throttling-server"]
    assert address["address"] == service["metadata"]["name"] == KUBERNETES_ENVOY.grpc_host
    assert address["port_value"] in {port["port"] for port in service["spec"]["ports"]}
    assert grpc["health_checks"][0]["grpc_health_check"]["service_name"] == SERVICE_NAME
    graphql = clusters["graphql"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    assert graphql["endpoint"]["address"]["socket_address"]["address"] == "throttling-graphql"

    deployment = pod(resources["Deployment", "throttling-envoy"])
    (envoy,) = deployment["containers"]
    assert envoy["command"][:3] == ["envoy", "-c", str(KUBERNETES_ENVOY_DIR / "envoy.yaml")]
    mounts = {mount["name"]: mount["mountPath"] for mount in envoy["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in deployment["volumes"]}
    assert mounts["config"] == str(KUBERNETES_ENVOY_DIR)
    assert volumes["config"]["configMap"]["name"] == "throttling-envoy"
    listener = config["static_resources"]["listeners"][0]["address"]["socket_address"]
    assert listener["port_value"] == envoy["ports"][0]["containerPort"]


def test_envoy_accepts_the_kubernetes_config(
    resources: dict[tuple[str, str], dict[str, Any]], tmp_path: Path, repo_root: Path
) -> None:
    """`envoy --mode validate` on the ConfigMap's files, mounted here instead of /etc/envoy, with
    the pages it serves from this checkout's gen/ instead of the image's."""
    config_map = resources["ConfigMap", "throttling-envoy"]
    for name, content in config_map["binaryData"].items():
        (tmp_path / name).write_bytes(base64.b64decode(content))
    mounted = config_map["data"]["envoy.yaml"].replace(f"{KUBERNETES_ENVOY_DIR}/", f"{tmp_path}/")
    assert mounted != config_map["data"]["envoy.yaml"], "the config reads its descriptor from the mount"
    text = mounted.replace(f"{IMAGE_GEN_DIR}/", f"{repo_root / 'gen'}/")
    assert text != mounted, "the config reads the pages from the image"
    (tmp_path / "envoy.yaml").write_text(text)
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(tmp_path / "envoy.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def files_envoy_reads(config: Any) -> Iterator[str]:
    if isinstance(config, dict):
        for key, value in config.items():
            if key in ("filename", "proto_descriptor") and isinstance(value, str):
                yield value
            yield from files_envoy_reads(value)
    elif isinstance(config, list):
        for value in config:
            yield from files_envoy_reads(value)


def test_the_image_holds_every_file_envoy_reads(
    resources: dict[tuple[str, str], dict[str, Any]], repo_root: Path
) -> None:
    """The ConfigMap holds the config and the descriptor; the pages (too large for a ConfigMap,
    whose limit is 1 MiB) come from the image, which copies them into IMAGE_GEN_DIR."""
    config = yaml.safe_load(resources["ConfigMap", "throttling-envoy"]["data"]["envoy.yaml"])
    files = set(files_envoy_reads(config))
    from_image = {f for f in files if f.startswith(f"{IMAGE_GEN_DIR}/")}
    assert files - from_image == {str(KUBERNETES_ENVOY_DIR / "throttling.binpb")}
    assert len(from_image) >= 7  # the OpenAPI document and the /docs and /ui files
    prod = (repo_root / "Dockerfile").read_text().split("AS prod", 1)[1].split("FROM ", 1)[0]
    copies = [line for line in prod.splitlines() if line.startswith("COPY --from=build /app/gen/")]
    copied = [line.split()[-1] for line in copies]
    for file in from_image:
        assert any(file.startswith(f"{directory}/") for directory in copied), f"the image lacks {file}"
        assert (repo_root / "gen" / Path(file).relative_to(IMAGE_GEN_DIR)).is_file(), file
    assert f"THROTTLING_ENVOY_GEN_DIR={IMAGE_GEN_DIR}" in prod  # for docker-compose's Envoy


def test_the_clusters_front_door_serves_browsers_of_no_other_origin(
    resources: dict[tuple[str, str], dict[str, Any]],
) -> None:
    config = yaml.safe_load(resources["ConfigMap", "throttling-envoy"]["data"]["envoy.yaml"])
    (listener,) = config["static_resources"]["listeners"]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    assert [f["name"] for f in manager["http_filters"]][:2] == [CORS, "envoy.filters.http.grpc_web"]
    (host,) = manager["route_config"]["virtual_hosts"]
    assert host["typed_per_filter_config"][CORS]["allow_origin_string_match"] == []
    assert set(PAGES) <= {route["match"].get("path") for route in host["routes"]}
