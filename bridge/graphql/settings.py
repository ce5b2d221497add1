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
    #: Largest HTTP request body and WebSocket message (a 1,000-unit game state is about 100 KB).
    max_body_bytes: int = 256 * 1024
    #: Most `_entities` representations in one field (each is one upstream lookup).
    max_entities: int = 100
    #: Most cost units one document may spend (see bridge/graphql/cost.py: a lookup costs 1,
    #: a plan 10 plus 1 per second of its time budget), so a 60 s plan (70) fits, 30 do not.
    max_cost: int = 100
    #: Most goals one document's answer may hold (see bridge/graphql/cost.py: each `goals` list
    #: counts as 1,000, times the plans listed), so rendering it never holds the event loop long.
    max_result_goals: int = 20_000
    #: Subscriptions open at once: per WebSocket connection, per client address, and in all.
    #: Keep `max_subscriptions` within subscription_channels x the server's streams per connection.
    max_subscriptions_per_connection: int = 8
    max_subscriptions_per_client: int = 16
    max_subscriptions: int = 100
    #: gRPC connections for queries and mutations, and separately for subscriptions, so that
    #: open subscriptions can never take the streams queries need.
    query_channels: int = 2
    subscription_channels: int = 2
    #: Peers (IPs or CIDRs) whose X-Forwarded-For names the client: the proxy in front (Envoy).
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GraphQLSettings:
        env = os.environ if environ is None else environ
        default = cls()

        def number(name: str, fallback: int) -> int:
            value = int(env.get(f"THROTTLING_GRAPHQL_{name}", fallback))
            if value < 1:
                raise ValueError(f"THROTTLING_GRAPHQL_{name} must be at least 1, not {value}")
            return value

        grpc_target = env.get("THROTTLING_GRAPHQL_GRPC_TARGET") or (
            f"{env.get('THROTTLING_GRPC_HOST', '127.0.0.1')}:{env.get('THROTTLING_GRPC_PORT', '50051')}"
        )
        proxies = env.get("THROTTLING_GRAPHQL_TRUSTED_PROXIES")
        return cls(
            host=env.get("THROTTLING_GRAPHQL_HOST", default.host),
            port=int(env.get("THROTTLING_GRAPHQL_PORT", default.port)),
            grpc_target=grpc_target,
            call_timeout=float(env.get("THROTTLING_GRAPHQL_CALL_TIMEOUT", default.call_timeout)),
            grpc_ca_file=env.get("THROTTLING_GRAPHQL_GRPC_CA_FILE", ""),
            otel_exporter=env.get("THROTTLING_OTEL_EXPORTER", default.otel_exporter),
            max_body_bytes=number("MAX_BODY_BYTES", default.max_body_bytes),
            max_entities=number("MAX_ENTITIES", default.max_entities),
            max_cost=number("MAX_COST", default.max_cost),
            max_result_goals=number("MAX_RESULT_GOALS", default.max_result_goals),
            max_subscriptions_per_connection=number(
                "MAX_SUBSCRIPTIONS_PER_CONNECTION", default.max_subscriptions_per_connection
            ),
            max_subscriptions_per_client=number(
                "MAX_SUBSCRIPTIONS_PER_CLIENT", default.max_subscriptions_per_client
            ),
            max_subscriptions=number("MAX_SUBSCRIPTIONS", default.max_subscriptions),
            query_channels=number("QUERY_CHANNELS", default.query_channels),
            subscription_channels=number("SUBSCRIPTION_CHANNELS", default.subscription_channels),
            trusted_proxies=default.trusted_proxies
            if proxies is None
            else tuple(p.strip() for p in proxies.split(",") if p.strip()),
        )
