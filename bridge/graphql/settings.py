"""Sidecar settings from the environment (THROTTLING_*), with local defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GraphQLSettings:
    host: str = "127.0.0.1"
    port: int = 8090
    #: The gRPC server this sidecar calls.
    grpc_target: str = "127.0.0.1:50051"
    #: Deadline for unary upstream calls, in seconds.
    call_timeout: float = 65.0
    #: CA of the gRPC server's certificate: set when the server speaks TLS.
    grpc_ca_file: str = ""
    #: "none", "console" or "otlp" (to OTEL_EXPORTER_OTLP_ENDPOINT), as for the server.
    otel_exporter: str = "none"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GraphQLSettings:
        env = os.environ if environ is None else environ
        default = cls()
        grpc_target = env.get("THROTTLING_GRAPHQL_GRPC_TARGET") or (
            f"{env.get('THROTTLING_GRPC_HOST', '127.0.0.1')}:{env.get('THROTTLING_GRPC_PORT', '50051')}"
        )
        return cls(
            host=env.get("THROTTLING_GRAPHQL_HOST", default.host),
            port=int(env.get("THROTTLING_GRAPHQL_PORT", default.port)),
            grpc_target=grpc_target,
            call_timeout=float(env.get("THROTTLING_GRAPHQL_CALL_TIMEOUT", default.call_timeout)),
            grpc_ca_file=env.get("THROTTLING_GRAPHQL_GRPC_CA_FILE", ""),
            otel_exporter=env.get("THROTTLING_OTEL_EXPORTER", default.otel_exporter),
        )
