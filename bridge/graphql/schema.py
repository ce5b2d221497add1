"""The GraphQL schema: the earlier service's public names, plus plans, history and progress.

Types are in types.py (built from the proto), root fields in resolvers.py, and the limits every
document meets in limits.py.
"""

from __future__ import annotations

import strawberry

from bridge.graphql.limits import EXTENSIONS
from bridge.graphql.resolvers import Mutation, Query, Subscription
from bridge.graphql.types import PlanType

schema = strawberry.federation.Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=[PlanType],
    federation_version="2.5",
    extensions=EXTENSIONS,
)
