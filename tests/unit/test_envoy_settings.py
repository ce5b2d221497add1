from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.envoy import render
from bridge.envoy.config import origin_regex
from bridge.envoy.settings import EnvoySettings
from bridge.graphql.settings import GraphQLSettings
from bridge.settings import BridgeSettings


def test_environment_overrides_ports_and_defaults_stay() -> None:
    settings = BridgeSettings.from_env({"THROTTLING_ENVOY_PORT": "18080", "THROTTLING_GRPC_PORT": "15051"})
    assert (settings.envoy.port, settings.grpc_port) == (18080, 15051)
    assert (settings.envoy.host, settings.envoy.admin_port, settings.grpc_host) == (
        "127.0.0.1",
        9901,
        "127.0.0.1",
    )


def listener_and_clusters(settings: BridgeSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    config = yaml.safe_load(render(settings, Path("/d/throttling.binpb")))
    (listener,) = config["static_resources"]["listeners"]
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    assert config["admin"]["address"]["socket_address"]["port_value"] == settings.envoy.admin_port
    return listener, clusters


def endpoint(cluster: dict[str, Any]) -> tuple[str, int]:
    address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    return address["socket_address"]["address"], address["socket_address"]["port_value"]


def test_render_places_every_setting() -> None:
    listener, clusters = listener_and_clusters(BridgeSettings())
    assert listener["address"] == {"socket_address": {"address": "127.0.0.1", "port_value": 8080}}
    assert endpoint(clusters["grpc_server"]) == ("127.0.0.1", 50051)
    assert endpoint(clusters["graphql"]) == ("127.0.0.1", 8090)
    assert "otel_collector" not in clusters and "transport_socket" not in clusters["grpc_server"]


def test_ipv6_and_dns_hosts_render_as_data() -> None:
    """Hosts are values, not text glued into YAML: an IPv6 address (a YAML-significant `:`) stays one."""
    settings = BridgeSettings(
        grpc_host="::1",
        envoy=EnvoySettings(host="::", otlp_endpoint="collector:4317"),
        graphql=GraphQLSettings(host="graphql"),
    )
    listener, clusters = listener_and_clusters(settings)
    assert listener["address"] == {"socket_address": {"address": "::", "port_value": 8080}}
    assert endpoint(clusters["grpc_server"]) == ("::1", 50051) and clusters["grpc_server"]["type"] == "STATIC"
    assert endpoint(clusters["graphql"]) == ("graphql", 8090) and clusters["graphql"]["type"] == "STRICT_DNS"
    assert endpoint(clusters["otel_collector"]) == ("collector", 4317)


@pytest.mark.parametrize(
    ("pattern", "origin", "allowed"),
    [
        ("http://localhost:*", "http://localhost:5173", True),
        ("http://localhost:*", "http://localhost", True),  # port 80
        ("http://localhost:*", "http://localhost:", False),
        ("http://localhost:*", "http://localhost:123456", False),
        ("http://localhost:*", "http://localhost.evil.net:80", False),
        ("https://*.example.com", "https://app.example.com", True),
        ("https://*.example.com", "https://a.b.example.com", False),
        ("https://*.example.com", "https://appxexample.com", False),  # the dot is literal
        ("https://app.example.com", "https://app.example.com.evil.net", False),
    ],
)
def test_an_origin_pattern_matches_whole_origins_with_one_label_per_star(
    pattern: str, origin: str, allowed: bool
) -> None:
    """Envoy's safe_regex matches the whole value (RE2), as fullmatch does here."""
    assert bool(re.fullmatch(origin_regex(pattern), origin)) is allowed
