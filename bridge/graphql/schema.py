"""The GraphQL schema: the earlier service's public names, plus plans, history and progress.

Types are in types.py (built from the proto), root fields in resolvers.py, and the limits every
document meets in limits.py.
"""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext

from bridge.graphql.limits import EXTENSIONS
from bridge.graphql.resolvers import Mutation, Query, Subscription
from bridge.graphql.types import PlanType
from bridge.graphql.upstream import ensure_code


class _Schema(strawberry.federation.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Every error leaves with an `extensions.code` (logged first as it was raised)."""
        super().process_errors(errors, execution_context)
        for error in errors:
            ensure_code(error)


schema = _Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=[PlanType],
    federation_version="2.5",
    extensions=EXTENSIONS,
)
