"""Envoy's configuration as data: one front-door listener (REST by gRPC-JSON transcoding, native
gRPC, and /graphql to the sidecar), its routes and HTTP filters, and the upstream clusters.

Each function returns plain dictionaries in Envoy's v3 schema; `bridge.envoy.render` writes them
with yaml.safe_dump. Values come from BridgeSettings, so ports and paths stay overridable.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # bridge.settings imports this package's settings module
    from bridge.settings import BridgeSettings


Config = dict[str, Any]


class Script(str):
    """Source code kept as a YAML block (`|`) when dumped, so the rendered config stays readable."""


def _block(dumper: yaml.SafeDumper, text: Script) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(text), style="|")


yaml.SafeDumper.add_representer(Script, _block)

TYPES = "type.googleapis.com/envoy"
TLS = f"{TYPES}.extensions.transport_sockets.tls.v3"
RATE_LIMIT = f"{TYPES}.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
TRANSCODER = "envoy.filters.http.grpc_json_transcoder"
SERVICE = "throttling.v1.ThrottlingService"
#: REST routes that read a bare JSON array (the earlier service's) get their {"goals": [...]}
#: unwrapped by this Lua script.
UNWRAP_GOALS = Path(__file__).with_name("unwrap_goals.lua")
#: Envoy's own replies (malformed JSON, unknown path, too large, rate limited, no healthy server)
#: in the shape of converted gRPC errors: HTTP status -> (gRPC code, its name, message).
LOCAL_REPLIES = {
    400: (3, "INVALID_ARGUMENT", "%LOCAL_REPLY_BODY%"),
    404: (5, "NOT_FOUND", "%LOCAL_REPLY_BODY%"),
    413: (3, "INVALID_ARGUMENT", "%LOCAL_REPLY_BODY%"),
    429: (8, "RESOURCE_EXHAUSTED", "rate limit exceeded: slow down and retry"),
    503: (14, "UNAVAILABLE", "%LOCAL_REPLY_BODY%"),
}


def config(settings: BridgeSettings, descriptor: Path) -> Config:
    return {
        "admin": {"address": socket_address("127.0.0.1", settings.envoy.admin_port)},
        "static_resources": {
            "listeners": [front_door(settings, descriptor)],
            "clusters": clusters(settings),
        },
    }


def front_door(settings: BridgeSettings, descriptor: Path) -> Config:
    chain: Config = {}
    if settings.envoy.tls_cert_file:
        chain["transport_socket"] = downstream_tls(settings.envoy.tls_cert_file, settings.envoy.tls_key_file)
    chain["filters"] = [
        {
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": connection_manager(settings, descriptor),
        }
    ]
    return {
        "name": "front_door",
        "address": socket_address(settings.envoy.host, settings.envoy.port),
        "filter_chains": [chain],
    }


def connection_manager(settings: BridgeSettings, descriptor: Path) -> Config:
    manager: Config = {
        "@type": f"{TYPES}.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "front_door",
        "codec_type": "AUTO",
        "generate_request_id": True,
    }
    if settings.envoy.otlp_endpoint:
        manager["tracing"] = tracing()
    manager["local_reply_config"] = {"mappers": [local_reply(status) for status in LOCAL_REPLIES]}
    manager["route_config"] = {
        "name": "routes",
        "virtual_hosts": [{"name": "throttling", "domains": ["*"], "routes": routes(settings)}],
    }
    manager["http_filters"] = http_filters(descriptor)
    return manager


def tracing() -> Config:
    """Envoy starts (or continues) a W3C trace per request and exports its spans over OTLP."""
    return {
        "provider": {
            "name": "envoy.tracers.opentelemetry",
            "typed_config": {
                "@type": f"{TYPES}.config.trace.v3.OpenTelemetryConfig",
                "grpc_service": {"envoy_grpc": {"cluster_name": "otel_collector"}, "timeout": "1s"},
                "service_name": "throttling-envoy",
            },
        }
    }


def local_reply(status: int) -> Config:
    code, name, message = LOCAL_REPLIES[status]
    return {
        "filter": {
            "status_code_filter": {
                "comparison": {
                    "op": "EQ",
                    "value": {"default_value": status, "runtime_key": f"throttling.local_reply.{status}"},
                }
            }
        },
        "body_format_override": {
            "json_format": {"code": code, "status": name, "message": message},
            "content_type": "application/json",
        },
    }


def routes(settings: BridgeSettings) -> list[Config]:
    return [
        # GraphQL (HTTP and WebSocket subscriptions) goes to the Strawberry sidecar. The sidecar
        # counts subscriptions per client by X-Forwarded-For: replace whatever the caller sent
        # with the peer address Envoy sees.
        {
            "match": {"prefix": "/graphql"},
            "request_headers_to_add": [
                {
                    "header": {
                        "key": "x-forwarded-for",
                        "value": "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%",
                    },
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                }
            ],
            "route": {
                "cluster": "graphql",
                "timeout": "0s",
                "upgrade_configs": [{"upgrade_type": "websocket"}],
            },
            "typed_per_filter_config": {
                TRANSCODER: {"@type": f"{TYPES}.config.route.v3.FilterConfig", "disabled": True},
                "envoy.filters.http.local_ratelimit": rate_limit(settings),
            },
        },
        # Earlier REST clients read a bare JSON array: unwrap {"goals": [...]}.
        rest_route(
            {"path": "/api/v1/throttle/calculate_throttle_steps"},
            "65s",
            settings,
            lua={"@type": f"{TYPES}.extensions.filters.http.lua.v3.LuaPerRoute", "name": "unwrap_goals"},
        ),
        # Streams last as long as the plan and its pacing: no route timeout.
        rest_route({"path": "/api/v1/throttle/stream_throttle_steps"}, "0s", settings),
        rest_route({"prefix": "/api/"}, "65s", settings),
        # Native gRPC: the client's grpc-timeout header is the deadline.
        {
            "match": {"prefix": "/", "grpc": {}},
            "route": {
                "cluster": "grpc_server",
                "timeout": "0s",
                "max_stream_duration": {"grpc_timeout_header_max": "0s"},
            },
        },
    ]


def rest_route(match: Config, timeout: str, settings: BridgeSettings, lua: Config | None = None) -> Config:
    """A REST route to the gRPC server, rate limited (and with the Lua unwrap when given)."""
    per_filter: Config = {} if lua is None else {"envoy.filters.http.lua": lua}
    per_filter["envoy.filters.http.local_ratelimit"] = rate_limit(settings)
    return {
        "match": match,
        "route": {"cluster": "grpc_server", "timeout": timeout},
        "typed_per_filter_config": per_filter,
    }


def rate_limit(settings: BridgeSettings) -> Config:
    """REST and GraphQL callers share a token bucket per route (native gRPC is not limited here)."""
    return {
        "@type": RATE_LIMIT,
        "stat_prefix": "http_local_rate_limiter",
        "token_bucket": {
            "max_tokens": settings.rate_limit_burst,
            "tokens_per_fill": settings.rate_limit_per_second,
            "fill_interval": f"{settings.rate_limit_fill_seconds}s",
        },
        "filter_enabled": {"default_value": everyone(), "runtime_key": "rl_enabled"},
        "filter_enforced": {"default_value": everyone(), "runtime_key": "rl_enforced"},
    }


def everyone() -> Config:
    return {"numerator": 100, "denominator": "HUNDRED"}


def http_filters(descriptor: Path) -> list[Config]:
    return [
        # GET /api/v1/health: 200 only while the gRPC server reports SERVING.
        {
            "name": "envoy.filters.http.health_check",
            "typed_config": {
                "@type": f"{TYPES}.extensions.filters.http.health_check.v3.HealthCheck",
                "pass_through_mode": False,
                "headers": [{"name": ":path", "string_match": {"exact": "/api/v1/health"}}],
                "cluster_min_healthy_percentages": {"grpc_server": {"value": 100}},
            },
        },
        # Enabled per route (rate_limit): the filter itself only names the bucket's stats.
        {
            "name": "envoy.filters.http.local_ratelimit",
            "typed_config": {"@type": RATE_LIMIT, "stat_prefix": "http_local_rate_limiter"},
        },
        {
            "name": "envoy.filters.http.lua",
            "typed_config": {
                "@type": f"{TYPES}.extensions.filters.http.lua.v3.Lua",
                "source_codes": {"unwrap_goals": {"inline_string": Script(UNWRAP_GOALS.read_text())}},
            },
        },
        {
            "name": TRANSCODER,
            "typed_config": {
                "@type": f"{TYPES}.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
                "proto_descriptor": str(descriptor),
                "services": [SERVICE],
                "convert_grpc_status": True,
                # Keep the REST route (its timeout, its Lua unwrap) after the path becomes gRPC.
                "match_incoming_request_route": True,
                "print_options": {
                    "always_print_primitive_fields": True,
                    "always_print_enums_as_ints": False,
                    "preserve_proto_field_names": False,
                },
                "request_validation_options": {
                    "reject_unknown_method": True,
                    "reject_unknown_query_parameters": True,
                },
            },
        },
        {
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": f"{TYPES}.extensions.filters.http.router.v3.Router"},
        },
    ]


def clusters(settings: BridgeSettings) -> list[Config]:
    graphql = cluster("graphql", settings.graphql.host, settings.graphql.port)
    grpc_server = cluster("grpc_server", settings.grpc_host, settings.grpc_port, http2=True)
    if settings.envoy.upstream_ca_file:
        grpc_server["transport_socket"] = upstream_tls(settings.envoy.upstream_ca_file)
    # Active gRPC health checks: a server that reports NOT_SERVING (e.g. while draining)
    # stops receiving new requests, and /api/v1/health answers 503.
    grpc_server["health_checks"] = [
        {
            "timeout": "1s",
            "interval": settings.envoy.health_interval,
            "no_traffic_interval": settings.envoy.health_interval,
            "unhealthy_threshold": 1,
            "healthy_threshold": 1,
            "grpc_health_check": {"service_name": SERVICE},
        }
    ]
    found = [graphql, grpc_server]
    if settings.envoy.otlp_endpoint:
        host, _, port = settings.envoy.otlp_endpoint.rpartition(":")
        found.append(cluster("otel_collector", host, int(port), http2=True))
    return found


def cluster(name: str, host: str, port: int, http2: bool = False) -> Config:
    """One upstream at host:port (HTTP/2 for gRPC upstreams)."""
    found: Config = {"name": name, "type": cluster_type(host), "connect_timeout": "1s"}
    if http2:
        found["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": f"{TYPES}.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    found["load_assignment"] = {
        "cluster_name": name,
        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket_address(host, port)}}]}],
    }
    return found


def cluster_type(host: str) -> str:
    """STATIC for an IP address; STRICT_DNS for a name (e.g. a docker-compose service)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "STRICT_DNS"
    return "STATIC"


def socket_address(host: str, port: int) -> Config:
    return {"socket_address": {"address": host, "port_value": port}}


def downstream_tls(cert_file: str, key_file: str) -> Config:
    """TLS on the front door."""
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": f"{TLS}.DownstreamTlsContext",
            "common_tls_context": {
                "alpn_protocols": ["h2", "http/1.1"],
                "tls_certificates": [
                    {"certificate_chain": {"filename": cert_file}, "private_key": {"filename": key_file}}
                ],
            },
        },
    }


def upstream_tls(ca_file: str) -> Config:
    """TLS to the gRPC server, whose certificate `ca_file` signed (for the name localhost)."""
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": f"{TLS}.UpstreamTlsContext",
            "sni": "localhost",
            "common_tls_context": {
                "alpn_protocols": ["h2"],
                "validation_context": {
                    "trusted_ca": {"filename": ca_file},
                    "match_typed_subject_alt_names": [{"san_type": "DNS", "matcher": {"exact": "localhost"}}],
                },
            },
        },
    }
