"""`python -m bridge.graphql`: serve the sidecar with uvicorn (settings from THROTTLING_GRAPHQL_*)."""

from __future__ import annotations

import uvicorn

from bridge.graphql.app import create_app
from bridge.settings import BridgeSettings


def main() -> None:
    settings = BridgeSettings.from_env()
    uvicorn.run(
        create_app(settings),
        host=settings.graphql.host,
        port=settings.graphql.port,
        log_level="warning",
        ws="websockets-sansio",
        # A larger WebSocket message closes the connection (1009 message too big).
        ws_max_size=settings.graphql.max_body_bytes,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
