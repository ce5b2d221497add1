"""The stack's settings: the server's, plus the sections only the bridges read.

One class tree, one parser (pydantic-settings, server/throttling_sequencer/settings.py): the
Envoy launcher, the GraphQL sidecar and `make up` read THROTTLING_* through BridgeSettings, so a
variable means the same everywhere (THROTTLING_GRPC_PORT is where the server listens, where
Envoy routes and where the sidecar calls).
"""

from __future__ import annotations

import re

from bridge.envoy.settings import EnvoySettings
from bridge.graphql.settings import GraphQLSettings
from throttling_sequencer.settings import CommaSeparated, Settings

#: An origin as browsers send it (scheme, host, optional port; no path), where `*` may stand for
#: one DNS label or the port: https://app.example.com, https://*.example.com, http://localhost:*.
ORIGIN_PATTERN = re.compile(
    r"https?://(\[[0-9A-Fa-f:.]+\]|(\*|[A-Za-z0-9-]+)(\.(\*|[A-Za-z0-9-]+))*)(:(\*|[0-9]{1,5}))?"
)


class BridgeSettings(Settings):
    #: THROTTLING_ENVOY_*: the front door.
    envoy: EnvoySettings = EnvoySettings()
    #: THROTTLING_GRAPHQL_*: the GraphQL sidecar.
    graphql: GraphQLSettings = GraphQLSettings()
    #: REST and GraphQL requests per second (sustained) and burst through Envoy, shared by all callers.
    rate_limit_per_second: int = 500
    rate_limit_burst: int = 1000
    #: The bucket gains rate_limit_per_second tokens per this many seconds (Envoy refills
    #: continuously at that rate). Tests stretch it to an hour, so no token comes back while they
    #: run and whether a call is refused never depends on the clock.
    rate_limit_fill_seconds: int = 1
    #: Web pages on other origins allowed to call gRPC-Web, REST and /graphql from a browser (CORS,
    #: answered by Envoy). In the environment: a comma-separated list of ORIGIN_PATTERN; empty
    #: allows none. The pages Envoy serves itself (/ui, /docs) are same-origin and need no entry.
    cors_origins: CommaSeparated = ("http://localhost:*", "http://127.0.0.1:*")

    @property
    def sidecar(self) -> GraphQLSettings:
        """The sidecar's section with its upstream filled in: this server's address unless set."""
        return self.graphql.model_copy(update={"grpc_target": self.graphql.grpc_target or self.grpc_address})

    def problems(self) -> list[str]:
        problems = [*super().problems(), *self.envoy.problems(), *self.graphql.problems()]
        refused = [origin for origin in self.cors_origins if not ORIGIN_PATTERN.fullmatch(origin)]
        if refused:
            problems.append(
                f"CORS_ORIGINS must list origins such as https://app.example.com or http://localhost:* "
                f"(scheme://host[:port], no path; * for one label or the port), not {', '.join(refused)}"
            )
        return problems
