"""GraphQL sidecar: a Strawberry federation subgraph that holds no business logic.

Every field calls the gRPC server; subscriptions are its server streams. Envoy routes
`/graphql` (HTTP and WebSocket) here, so web tools use the same front door as REST and gRPC.
"""
