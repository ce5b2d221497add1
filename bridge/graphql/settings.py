"""The sidecar's section of the settings: THROTTLING_GRAPHQL_* (see bridge/settings.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from throttling_sequencer.settings import CommaSeparated


class GraphQLSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8090
    #: The gRPC server this sidecar calls; empty means the server's own THROTTLING_GRPC_HOST:PORT
    #: (BridgeSettings.sidecar).
    grpc_target: str = ""
    #: Deadline for unary upstream calls, in seconds.
    call_timeout: float = 65.0
    #: CA of the gRPC server's certificate: set when the server speaks TLS.
    grpc_ca_file: str = ""
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
    #: In the environment: a comma-separated list.
    trusted_proxies: CommaSeparated = ("127.0.0.1", "::1")

    def problems(self) -> list[str]:
        """Rules the values break, each naming its variable (without the THROTTLING_ prefix)."""
        counts = (
            "max_body_bytes",
            "max_entities",
            "max_cost",
            "max_result_goals",
            "max_subscriptions_per_connection",
            "max_subscriptions_per_client",
            "max_subscriptions",
            "query_channels",
            "subscription_channels",
        )
        return [
            f"GRAPHQL_{name.upper()} must be at least 1, not {getattr(self, name)}"
            for name in counts
            if getattr(self, name) < 1
        ]
