"""Start-up failures an operator can fix (a busy port), told in one line instead of a traceback."""

from __future__ import annotations

import errno
import socket

#: How to choose the gRPC port, for messages.
GRPC_PORT_SETTING = "THROTTLING_GRPC_PORT (or serve --port)"


class StartupError(RuntimeError):
    """Serving cannot start for a reason the operator can fix; the message says how."""


def ensure_port_free(host: str, port: int, setting: str) -> None:
    """Raise StartupError naming `port` and the `setting` that changes it if it cannot be bound.

    Checked before anything opens, because a busy port found by gRPC or Envoy surfaces as a
    traceback or a page of logs, and because processes that share a port (SO_REUSEPORT) would
    otherwise join another stack's listeners silently.
    """
    if port == 0:
        return
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise StartupError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    with socket.socket(family, kind, proto) as probe:
        # A port whose old connections linger in TIME_WAIT is free to serve on again.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise StartupError(
                    f"port {port} on {host} is already in use: stop what holds it, "
                    f"or set {setting} to a free port"
                ) from None
            reason = error.strerror or str(error)
            raise StartupError(f"cannot listen on {host}:{port} ({reason}): check {setting}") from None
