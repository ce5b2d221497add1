"""A gRPC call made frame by frame over HTTP/2 (the h2 library): for requests no gRPC client
library will send, such as a unary call that ends without its message."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import h2.config
import h2.connection
import h2.events

from tests.support import HANG_GUARD_SECONDS


@dataclass(frozen=True)
class RawReply:
    headers: dict[str, str]
    trailers: dict[str, str]
    data: bytes


def call(port: int, method: str, body: bytes = b"") -> RawReply:
    """POST `method` ("/pkg.Service/Method") with `body` as its whole DATA (none: headers end the
    stream); the answer once the server ends the stream. A server that never does fails the call
    after HANG_GUARD_SECONDS (socket.timeout), so a hang is a test failure, not a stuck suite."""
    with socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD_SECONDS) as sock:
        connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        connection.initiate_connection()
        headers = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", method),
            (":authority", f"127.0.0.1:{port}"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ]
        connection.send_headers(1, headers, end_stream=not body)
        if body:
            connection.send_data(1, body, end_stream=True)
        sock.sendall(connection.data_to_send())
        answer: dict[str, dict[str, str]] = {}
        data = b""
        while True:
            received = sock.recv(65535)
            if not received:
                raise ConnectionError(f"the server closed the connection without ending {method}")
            for event in connection.receive_data(received):
                if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
                    kind = "trailers" if isinstance(event, h2.events.TrailersReceived) else "headers"
                    answer[kind] = {_text(k): _text(v) for k, v in event.headers}
                elif isinstance(event, h2.events.DataReceived):
                    data += event.data
                    connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    # A trailers-only answer carries grpc-status in its headers.
                    return RawReply(
                        answer.get("headers", {}), answer.get("trailers", answer.get("headers", {})), data
                    )
            sock.sendall(connection.data_to_send())


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
