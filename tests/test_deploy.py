"""docker-compose.yml and the Dockerfile: valid, and running exactly what `make up` and the tests run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.stack import COMMANDS

SERVICES = {"server": "grpc-server", "graphql": "graphql-sidecar", "envoy": "envoy"}


def compose_command() -> list[str]:
    """docker-compose (Debian's, validates without an engine), else the `docker compose` plugin."""
    binary = shutil.which("docker-compose")
    if binary is not None:
        return [binary]
    docker = shutil.which("docker")
    if docker is not None:
        plugin = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
        if plugin.returncode == 0:
            return [docker, "compose"]
    pytest.fail("docker-compose is missing: `make test` installs it as root (tools/ensure-system-deps)")


def compose_config(repo_root: Path, *profiles: str) -> dict[str, Any]:
    flags = [flag for profile in profiles for flag in ("--profile", profile)]
    result = subprocess.run(
        [*compose_command(), "-f", "docker-compose.yml", *flags, "config"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def test_default_stack_runs_the_launchers_commands(repo_root: Path) -> None:
    services = compose_config(repo_root)["services"]
    default = {name for name, service in services.items() if not service.get("profiles")}
    assert default == {"postgres", "migrate", "server", "graphql", "envoy"}
    for service, process in SERVICES.items():
        assert services[service]["command"] == ["python", *COMMANDS[process]], service
    assert services["server"]["environment"]["THROTTLING_DATABASE_URL"].startswith("postgres://")


@pytest.mark.parametrize(
    ("profile", "extra"),
    [("failover", {"pg-a", "pg-b", "haproxy", "pgbouncer"}), ("auth", {"keycloak"})],
)
def test_profiles_add_their_services(repo_root: Path, profile: str, extra: set[str]) -> None:
    services = compose_config(repo_root, profile)["services"]
    assert {name for name, service in services.items() if profile in service.get("profiles", [])} == extra


def test_the_failover_profile_replicates_synchronously(repo_root: Path) -> None:
    """Like the failover lab: the writer waits for its standby, so a crash loses no answered plan."""
    services = compose_config(repo_root, "failover")["services"]
    writer, standby = services["pg-a"]["environment"], services["pg-b"]["environment"]
    assert writer["POSTGRESQL_REPLICATION_MODE"] == "master"
    assert writer["POSTGRESQL_SYNCHRONOUS_COMMIT_MODE"] == "on"
    assert writer["POSTGRESQL_NUM_SYNCHRONOUS_REPLICAS"] == "1"
    assert (standby["POSTGRESQL_REPLICATION_MODE"], standby["POSTGRESQL_MASTER_HOST"]) == ("slave", "pg-a")


def test_the_prod_image_is_slim_and_not_root(repo_root: Path) -> None:
    dockerfile = (repo_root / "Dockerfile").read_text()
    stages = [line.split()[-1] for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert stages == ["base", "build", "prod", "dev"]
    prod = dockerfile.split("AS prod", 1)[1].split("FROM ", 1)[0]
    assert "USER 10001" in prod and "requirements-dev" not in prod
    assert 'CMD ["python", "-m", "throttling_sequencer.cli", "serve"]' in prod
