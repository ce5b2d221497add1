"""The stack's settings: the server's, plus the sections only the bridges read.

One class tree, one parser (pydantic-settings, server/throttling_sequencer/settings.py): the
Envoy launcher, the GraphQL sidecar and `make up` read THROTTLING_* through BridgeSettings, so a
variable means the same everywhere (THROTTLING_GRPC_PORT is where the server listens, where
Envoy routes and where the sidecar calls).
"""

from __future__ import annotations

from bridge.envoy.settings import EnvoySettings
from bridge.graphql.settings import GraphQLSettings
from throttling_sequencer.settings import Settings


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

    @property
    def sidecar(self) -> GraphQLSettings:
        """The sidecar's section with its upstream filled in: this server's address unless set."""
        return self.graphql.model_copy(update={"grpc_target": self.graphql.grpc_target or self.grpc_address})

    def problems(self) -> list[str]:
        return [*super().problems(), *self.envoy.problems(), *self.graphql.problems()]
