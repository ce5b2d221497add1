"""Envoy's section of the settings: THROTTLING_ENVOY_* (see bridge/settings.py)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

#: gen/ of this checkout (`make gen` writes it).
GEN_DIR = Path(__file__).resolve().parent.parent.parent / "gen"


class EnvoySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The front door's listener.
    host: str = "127.0.0.1"
    port: int = 8080
    admin_port: int = 9901
    #: Most client connections open at once (REST, GraphQL, gRPC, gRPC-Web together).
    max_connections: int = 10_000
    #: How often Envoy asks the gRPC server's health service.
    health_interval: str = "1s"
    #: TLS on the front door (PEM files); empty means plaintext.
    tls_cert_file: str = ""
    tls_key_file: str = ""
    #: CA that signed the gRPC server's certificate: set when the server speaks TLS.
    upstream_ca_file: str = ""
    #: OTLP/gRPC collector (host:port) for Envoy's spans; empty means Envoy does not trace.
    otlp_endpoint: str = ""
    #: The generated files Envoy reads: the proto descriptor (gen/descriptor), the OpenAPI document
    #: it serves at /api/v1/openapi.json (gen/openapi) and the pages at /docs and /ui (gen/web).
    #: The container image keeps them in /app/gen.
    gen_dir: Path = GEN_DIR

    def problems(self) -> list[str]:
        """Rules the values break, each naming its variable (without the THROTTLING_ prefix)."""
        problems = [
            f"ENVOY_{name.upper()} must be 0..65535"
            for name, port in (("port", self.port), ("admin_port", self.admin_port))
            if not 0 <= port <= 65535
        ]
        if self.max_connections < 1:
            problems.append("ENVOY_MAX_CONNECTIONS must be at least 1")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            problems.append("ENVOY_TLS_CERT_FILE and ENVOY_TLS_KEY_FILE go together")
        return problems
