"""How many subscriptions may be open: per WebSocket connection, per client, and in all.

Every open subscription holds an upstream gRPC stream for as long as it lasts, so without a cap
a few callers could hold every stream the subscription channels have. A refused subscription
gets a GraphQL error with `extensions.code` SUBSCRIPTION_LIMIT_REACHED, the `scope` that is full
and its `limit`, at once, instead of waiting for a stream.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, OperationType, ValidationRule
from strawberry.extensions import SchemaExtension

from bridge.graphql.settings import GraphQLSettings

CODE = "SUBSCRIPTION_LIMIT_REACHED"
OVER_HTTP = (
    "subscriptions run over WebSocket (graphql-transport-ws or graphql-ws) at /graphql, not over plain HTTP"
)


class WebSocketOnly(SchemaExtension):
    """Refuses a subscription sent over plain HTTP with `extensions.code` BAD_REQUEST, in
    validation. (Executed, its stream is no value, and the answer was graphql-core's TypeError
    "Cannot return null for non-nullable field", with no code.)"""

    def on_operation(self) -> Iterator[None]:
        execution = self.execution_context
        context = execution.context
        if isinstance(context, dict) and not context.get("websocket", True):
            wanted = execution.operation_name

            class OverHttp(ValidationRule):
                def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
                    chosen = wanted is None or (node.name is not None and node.name.value == wanted)
                    if chosen and node.operation == OperationType.SUBSCRIPTION:
                        self.report_error(GraphQLError(OVER_HTTP, node, extensions={"code": "BAD_REQUEST"}))

            execution.validation_rules = (*execution.validation_rules, OverHttp)
        yield


class Connection:
    """One WebSocket connection (or one HTTP request): its open subscriptions."""

    __slots__ = ("open",)

    def __init__(self) -> None:
        self.open = 0


class SubscriptionLimits:
    def __init__(self, settings: GraphQLSettings) -> None:
        self.per_connection = settings.max_subscriptions_per_connection
        self.per_client = settings.max_subscriptions_per_client
        self.in_all = settings.max_subscriptions
        self.by_client: Counter[str] = Counter()
        self.open = 0

    @contextmanager
    def hold(self, connection: Connection, client: str) -> Iterator[None]:
        """One place for a subscription while it runs; refused at once if a cap is reached."""
        for scope, count, limit in (
            ("connection", connection.open, self.per_connection),
            ("client", self.by_client[client], self.per_client),
            ("server", self.open, self.in_all),
        ):
            if count >= limit:
                raise GraphQLError(
                    f"too many subscriptions open ({scope} limit {limit}): close one before starting another",
                    extensions={"code": CODE, "scope": scope, "limit": limit},
                )
        connection.open += 1
        self.by_client[client] += 1
        self.open += 1
        try:
            yield
        finally:
            connection.open -= 1
            self.by_client[client] -= 1
            if not self.by_client[client]:
                del self.by_client[client]
            self.open -= 1
