"""Envoy's configuration as data: one front-door listener (REST by gRPC-JSON transcoding, native
gRPC and gRPC-Web, /graphql to the sidecar, CORS for other origins, and the pages it serves
itself: /api/v1/openapi.json, /docs, /ui), its routes and HTTP filters, and the upstream clusters.

Each function returns plain dictionaries in Envoy's v3 schema; `bridge.envoy.render` writes them
with yaml.safe_dump. Values come from BridgeSettings, so ports and paths stay overridable.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

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
CORS = "envoy.filters.http.cors"
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
    # A REST call past its route timeout (REST_TIMEOUT_SECONDS).
    504: (4, "DEADLINE_EXCEEDED", "%LOCAL_REPLY_BODY%"),
}


#: The largest REST answer the transcoder buffers (Envoy's default is 1 MiB).
MAX_RESPONSE_BODY_BYTES = 16 * 1024 * 1024
#: How long Envoy waits for the answer to a REST call (but a stream's): 504 beyond.
REST_TIMEOUT_SECONDS = 65
#: The deadline a REST call reaches the server with, unless it sends a `grpc-timeout` header of its
#: own: shorter than the route timeout, so the server knows when it must answer. A batch too large
#: to plan in that time is answered with the units planned (the others DEADLINE_EXCEEDED in their
#: results), not cut off by Envoy's 504 with all its work thrown away; the difference leaves time to
#: store, answer and transcode.
REST_DEADLINE_SECONDS = 60
HTML = "text/html; charset=utf-8"
JAVASCRIPT = "text/javascript; charset=utf-8"


class Page(NamedTuple):
    """A file the front door serves itself."""

    #: Under the gen dir (`make gen` writes it).
    file: str
    content_type: str
    #: Its Content-Security-Policy, for HTML pages.
    policy: str = ""


#: What the front door serves itself, each file an Envoy direct response read once at start: no
#: static server to run, in `make up`, compose or Kubernetes (where the image holds gen/).
PAGES = {
    "/api/v1/openapi.json": Page("openapi/throttling.openapi.json", "application/json"),
    # Redoc styles inline and embeds its fonts. Its search probes eval (refused: it searches
    # without a worker), and its "API docs by Redocly" logo is an image from their CDN (refused).
    "/docs": Page(
        "web/docs/index.html",
        HTML,
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
        "frame-ancestors 'none'",
    ),
    "/docs/redoc.standalone.js": Page("web/docs/redoc.standalone.js", JAVASCRIPT),
    "/ui": Page("web/ui/index.html", HTML, "default-src 'self'; frame-ancestors 'none'"),
    "/ui/app.js": Page("web/ui/app.js", JAVASCRIPT),
    "/ui/app.css": Page("web/ui/app.css", "text/css; charset=utf-8"),
    "/ui/icon.svg": Page("web/ui/icon.svg", "image/svg+xml"),
}
#: Largest file a direct response may hold (Envoy's default is 4 KB); Redoc's bundle is ~2.3 MB.
MAX_PAGE_BYTES = 8 * 1024 * 1024
#: `*` in a configured origin: one DNS label or a port, never a dot or a slash.
ORIGIN_WILDCARD = "[A-Za-z0-9-]+"
#: A port, or none: what a final `:*` in an origin pattern stands for.
ANY_PORT = "(:[0-9]{1,5})?"
#: What browsers may send and read across origins: gRPC-Web's and Connect's own headers, the
#: bearer token, request ids and W3C trace context.
CORS_ALLOW_HEADERS = (
    "authorization, content-type, x-grpc-web, x-user-agent, grpc-timeout, x-request-id, traceparent, "
    "tracestate, connect-protocol-version, connect-timeout-ms"
)
CORS_EXPOSE_HEADERS = "grpc-status, grpc-message, grpc-status-details-bin, x-request-id"
#: How long a browser may reuse a preflight answer, in seconds.
CORS_MAX_AGE_SECONDS = 600


def config(settings: BridgeSettings, descriptor: Path) -> Config:
    return {
        "admin": {"address": socket_address("127.0.0.1", settings.envoy.admin_port)},
        "static_resources": {
            "listeners": [front_door(settings, descriptor)],
            "clusters": clusters(settings),
        },
        "overload_manager": overload_manager(settings.envoy.max_connections),
    }


def overload_manager(max_connections: int) -> Config:
    """At most `max_connections` open client connections (THROTTLING_ENVOY_MAX_CONNECTIONS): one
    past it is closed as it is accepted (counted in `downstream_global_cx_overflow`), before it
    costs a request's worth of memory."""
    return {
        "resource_monitors": [
            {
                "name": "envoy.resource_monitors.global_downstream_max_connections",
                "typed_config": {
                    "@type": "type.googleapis.com/"
                    "envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
                    "max_active_downstream_connections": max_connections,
                },
            }
        ]
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
    manager["local_reply_config"] = {
        "mappers": [grpc_bad_request(), *(local_reply(status) for status in LOCAL_REPLIES)]
    }
    manager["route_config"] = {
        "name": "routes",
        "max_direct_response_body_size_bytes": MAX_PAGE_BYTES,
        "virtual_hosts": [
            {
                "name": "throttling",
                "domains": ["*"],
                "routes": routes(settings),
                # Every route but the pages (direct responses, which Envoy's CORS filter skips).
                "typed_per_filter_config": {CORS: cors_policy(settings.cors_origins)},
            }
        ],
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


#: Envoy's only 400 to a gRPC call: the grpc_web filter's, for a -text body that is not base64. By
#: itself it would answer HTTP 400, which the filter reports as INTERNAL with the JSON of LOCAL_REPLIES
#: in grpc-message; bad input is INVALID_ARGUMENT.
NOT_BASE64 = "the gRPC-Web request body is not valid base64"


def grpc_bad_request() -> Config:
    """Envoy's 400 to a gRPC(-Web) call (its content type is application/grpc by then) as a
    trailers-only gRPC answer: 200, no body, grpc-status 3; the grpc_web filter passes it as is."""
    grpc_call = {
        "header_filter": {"header": {"name": "content-type", "string_match": {"prefix": "application/grpc"}}}
    }
    # The transcoder turns REST calls into gRPC too, but keeps their path in this header.
    not_rest = {
        "header_filter": {
            "header": {"name": "x-envoy-original-path", "present_match": True, "invert_match": True}
        }
    }
    return {
        "filter": {"and_filter": {"filters": [grpc_call, not_rest, status_is(400)]}},
        "status_code": 200,
        "headers_to_add": [
            header("grpc-status", "3"),
            header("grpc-message", NOT_BASE64),
            header("content-type", "application/grpc"),
        ],
        "body_format_override": {"text_format_source": {"inline_string": ""}},
    }


def status_is(status: int) -> Config:
    """A local reply filter: the reply's HTTP status is `status`."""
    return {
        "status_code_filter": {
            "comparison": {
                "op": "EQ",
                "value": {"default_value": status, "runtime_key": f"throttling.local_reply.{status}"},
            }
        }
    }


def local_reply(status: int) -> Config:
    code, name, message = LOCAL_REPLIES[status]
    return {
        "filter": status_is(status),
        "body_format_override": {
            "json_format": {"code": code, "status": name, "message": message},
            "content_type": "application/json",
        },
    }


def cors_policy(origins: tuple[str, ...]) -> Config:
    """Cross-origin calls from the configured origins (bridge.settings.ORIGIN_PATTERN). Envoy
    answers every preflight itself: allowed ones with the CORS headers, others with none (so the
    browser refuses the call), never forwarding one upstream."""
    return {
        "@type": f"{TYPES}.extensions.filters.http.cors.v3.CorsPolicy",
        "allow_origin_string_match": [{"safe_regex": {"regex": origin_regex(o)}} for o in origins],
        "allow_methods": "GET, POST, OPTIONS",
        "allow_headers": CORS_ALLOW_HEADERS,
        "expose_headers": CORS_EXPOSE_HEADERS,
        "max_age": str(CORS_MAX_AGE_SECONDS),
        "forward_not_matching_preflights": False,
    }


def origin_regex(origin: str) -> str:
    """An origin pattern as a whole-string RE2 regex: literal, but `*` for one label, and a final
    `:*` for any port or none (`http://localhost:*` also allows `http://localhost`, port 80)."""
    any_port = origin.endswith(":*")
    if any_port:
        origin = origin[:-2]
    regex = ORIGIN_WILDCARD.join(re.escape(part) for part in origin.split("*"))
    return regex + ANY_PORT if any_port else regex


def pages(gen_dir: Path) -> list[Config]:
    """PAGES as direct responses; `/` and the pages' trailing-slash paths redirect to them."""
    found: list[Config] = [
        {
            "match": {"path": path},
            "direct_response": {"status": 200, "body": {"filename": str(gen_dir / page.file)}},
            "response_headers_to_add": [
                header(name, value)
                for name, value in (
                    ("content-type", page.content_type),
                    ("cache-control", "no-cache"),
                    ("x-content-type-options", "nosniff"),
                    ("content-security-policy", page.policy),
                )
                if value
            ],
            "typed_per_filter_config": {TRANSCODER: disabled()},
        }
        for path, page in PAGES.items()
    ]
    redirects = {"/": "/ui", "/ui/": "/ui", "/docs/": "/docs"}
    found += [
        {
            "match": {"path": path},
            "redirect": {"path_redirect": target, "response_code": "FOUND"},
            "typed_per_filter_config": {TRANSCODER: disabled()},
        }
        for path, target in redirects.items()
    ]
    return found


def header(name: str, value: str) -> Config:
    """A header to set on a request or response, replacing any of that name."""
    return {"header": {"key": name, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}


def disabled() -> Config:
    """A per-route config that turns an HTTP filter off on that route."""
    return {"@type": f"{TYPES}.config.route.v3.FilterConfig", "disabled": True}


def routes(settings: BridgeSettings) -> list[Config]:
    return [
        *pages(settings.envoy.gen_dir),
        # GraphQL (HTTP and WebSocket subscriptions) goes to the Strawberry sidecar. The sidecar
        # counts subscriptions per client by X-Forwarded-For: replace whatever the caller sent
        # with the peer address Envoy sees.
        {
            "match": {"prefix": "/graphql"},
            "request_headers_to_add": [
                header("x-forwarded-for", "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%")
            ],
            "route": {
                "cluster": "graphql",
                "timeout": "0s",
                "upgrade_configs": [{"upgrade_type": "websocket"}],
            },
            "typed_per_filter_config": {
                TRANSCODER: disabled(),
                "envoy.filters.http.local_ratelimit": rate_limit(settings),
            },
        },
        # Earlier REST clients read a bare JSON array: unwrap {"goals": [...]}.
        rest_route(
            {"path": "/api/v1/throttle/calculate_throttle_steps"},
            settings,
            lua={"@type": f"{TYPES}.extensions.filters.http.lua.v3.LuaPerRoute", "name": "unwrap_goals"},
        ),
        # Streams last as long as the plan and its pacing: no route timeout, no deadline.
        rest_route({"path": "/api/v1/throttle/stream_throttle_steps"}, settings, bounded=False),
        rest_route({"prefix": "/api/"}, settings),
        # Preflights of gRPC-Web calls (their paths match no route above). The CORS filter answers
        # every preflight itself; any other OPTIONS meets the transcoder's 404 (unknown method).
        # A direct response would do, but Envoy skips CORS on direct-response routes.
        {
            "match": {"prefix": "/", "headers": [{"name": ":method", "string_match": {"exact": "OPTIONS"}}]},
            "route": {"cluster": "grpc_server"},
        },
        # gRPC-Web: browsers, like REST and GraphQL callers, share a token bucket. The route is
        # chosen before the grpc_web filter turns the call into gRPC, so it matches the web
        # content types (application/grpc-web, -web+proto, -web-text, -web-text+proto).
        {
            "match": {
                "prefix": "/",
                "headers": [{"name": "content-type", "string_match": {"prefix": "application/grpc-web"}}],
            },
            "route": grpc_route(),
            "typed_per_filter_config": {"envoy.filters.http.local_ratelimit": rate_limit(settings)},
        },
        # Native gRPC.
        {"match": {"prefix": "/", "grpc": {}}, "route": grpc_route()},
    ]


def grpc_route() -> Config:
    """To the gRPC server, with the client's grpc-timeout header as the deadline (no route timeout)."""
    return {
        "cluster": "grpc_server",
        "timeout": "0s",
        "max_stream_duration": {"grpc_timeout_header_max": "0s"},
    }


def rest_route(
    match: Config, settings: BridgeSettings, lua: Config | None = None, *, bounded: bool = True
) -> Config:
    """A REST route to the gRPC server, rate limited (and with the Lua unwrap when given); `bounded`:
    within REST_TIMEOUT_SECONDS, the server told REST_DEADLINE_SECONDS unless the caller said less."""
    per_filter: Config = {} if lua is None else {"envoy.filters.http.lua": lua}
    per_filter["envoy.filters.http.local_ratelimit"] = rate_limit(settings)
    route: Config = {
        "match": match,
        "route": {"cluster": "grpc_server", "timeout": f"{REST_TIMEOUT_SECONDS}s" if bounded else "0s"},
        "typed_per_filter_config": per_filter,
    }
    if bounded:
        # The transcoded call's gRPC deadline (the route timeout alone is Envoy's, unknown upstream).
        deadline = {"key": "grpc-timeout", "value": f"{REST_DEADLINE_SECONDS}S"}
        route["request_headers_to_add"] = [{"header": deadline, "append_action": "ADD_IF_ABSENT"}]
    return route


def rate_limit(settings: BridgeSettings) -> Config:
    """REST, GraphQL and gRPC-Web callers share a token bucket per route (native gRPC is not limited
    here: its callers are services, held by the server's own limits)."""
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
        # First, so preflights are answered before anything else runs, and every answer (errors,
        # health, rate limits included) carries the CORS headers a browser needs to read it.
        {"name": CORS, "typed_config": {"@type": f"{TYPES}.extensions.filters.http.cors.v3.Cors"}},
        # application/grpc-web(+proto) and -text in, gRPC to the server, trailers back in the body.
        {
            "name": "envoy.filters.http.grpc_web",
            "typed_config": {"@type": f"{TYPES}.extensions.filters.http.grpc_web.v3.GrpcWeb"},
        },
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
                # A batch's answer, as JSON, is buffered whole: up to THROTTLING_MAX_BATCH_GOALS
                # (100,000) goals of about 85 bytes each, plus the plans around them.
                "max_response_body_size": MAX_RESPONSE_BODY_BYTES,
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
