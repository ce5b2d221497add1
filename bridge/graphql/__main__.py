"""`python -m bridge.graphql`: serve the sidecar with uvicorn (settings from THROTTLING_GRAPHQL_*)."""

from __future__ import annotations

import uvicorn

from bridge.graphql.app import create_app
from bridge.graphql.settings import GraphQLSettings


def main() -> None:
    settings = GraphQLSettings.from_env()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        ws="websockets-sansio",
        # A larger WebSocket message closes the connection (1009 message too big).
        ws_max_size=settings.max_body_bytes,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
