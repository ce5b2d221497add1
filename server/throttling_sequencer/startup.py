"""Start-up failures an operator can fix (a busy port, a data directory or database file that
cannot be used), told in one line instead of a traceback (or, for SQLite, a silent hang)."""

from __future__ import annotations

import contextlib
import errno
import socket
import sqlite3
from pathlib import Path

#: How to choose the gRPC port, for messages.
GRPC_PORT_SETTING = "THROTTLING_GRPC_PORT (or serve --port)"
DATA_DIR_SETTING = "THROTTLING_DATA_DIR"
SQLITE_PREFIX = "sqlite://"


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


def ensure_data_dir(path: Path) -> None:
    """Create the data directory, or raise StartupError saying why it cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or str(error)
        raise StartupError(
            f"cannot create the data directory {path} ({reason}): set {DATA_DIR_SETTING} "
            "to a directory this process can write"
        ) from None


def ensure_sqlite_opens(database_url: str) -> None:
    """Open and read the SQLite database once, or raise StartupError.

    Checked before Tortoise opens it: Tortoise 1.1 keeps its connection lock when opening fails,
    so migrations on a file that cannot be opened (or is not a database) wait forever, silently.
    """
    path = database_url.removeprefix(SQLITE_PREFIX).split("?", 1)[0]
    try:
        with contextlib.closing(sqlite3.connect(path)) as connection:
            connection.execute("PRAGMA schema_version").fetchone()
    except sqlite3.Error as error:
        raise StartupError(
            f"cannot open the SQLite database {path} ({error}): set {DATA_DIR_SETTING}, or "
            "THROTTLING_DATABASE_URL, to where this process can keep a database"
        ) from None
