"""A local failover lab: two Postgres 15 clusters (streaming replication), HAProxy, pgbouncer.

Everything runs as local processes on 127.0.0.1 in one directory: Postgres as the `postgres`
user (initdb and pg_ctl refuse root), HAProxy with an admin socket that decides which cluster
is the writer, pgbouncer (transaction pooling) in front of HAProxy.

    python -m failover.lab up DIR      start the lab in DIR and print its endpoints
    python -m failover.lab flip DIR    move the writer to the other cluster (clean switchover)
    python -m failover.lab outage DIR SECONDS   take both clusters away, then bring the writer back
    python -m failover.lab down DIR    stop everything

A flip is a planned switchover that loses nothing: HAProxy stops routing to the writer and cuts
its sessions, the writer shuts down cleanly (its standby receives every WAL record first), the
standby is promoted, the old writer restarts as a standby of the new one, and HAProxy routes to
the new writer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

BIN = Path(os.environ.get("THROTTLING_PG_BIN", "/usr/lib/postgresql/15/bin"))
DATABASE = "throttling"
USER = "postgres"


def _as_postgres(command: list[str]) -> list[str]:
    """Postgres tools refuse root: run them as the postgres user when we are root."""
    return ["runuser", "-u", USER, "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120, **kwargs)  # type: ignore[call-overload, no-any-return]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class Cluster:
    name: str
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / self.name

    @property
    def sockets(self) -> Path:
        return self.root / "sockets"

    def _ctl(self, *args: str) -> None:
        log = self.root / f"{self.name}.log"
        _run(
            _as_postgres([str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", "-t", "60", *args])
        )

    def init_primary(self) -> None:
        _run(
            _as_postgres(
                [str(BIN / "initdb"), "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8"]
            )
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.sockets}'\n"
                "wal_level = replica\nmax_wal_senders = 10\nhot_standby = on\nwal_log_hints = on\n"
                # A lab: speed over crash safety (switchovers are clean shutdowns, not crashes).
                "max_connections = 100\nfsync = off\nfull_page_writes = off\n"
            )
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write("host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n")

    def init_standby(self, primary: Cluster) -> None:
        _run(
            _as_postgres(
                [
                    str(BIN / "pg_basebackup"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(primary.port),
                    "-U",
                    USER,
                    "-D",
                    str(self.data),
                    "-R",
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                ]
            )
        )

    def start(self) -> None:
        self._ctl("-o", f"-p {self.port}", "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._ctl("-m", "fast", "stop")

    def promote(self) -> None:
        self._ctl("promote")
        deadline = time.monotonic() + 30
        while self.sql("SELECT pg_is_in_recovery()") != "f":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} did not leave recovery")
            time.sleep(0.05)

    def follow(self, primary: Cluster) -> None:
        """Restart as a standby of `primary` (after a clean shutdown nothing needs rewinding)."""
        (self.data / "standby.signal").touch()
        if os.geteuid() == 0:
            shutil.chown(self.data / "standby.signal", USER, USER)
        auto = self.data / "postgresql.auto.conf"
        lines = [line for line in auto.read_text().splitlines() if not line.startswith("primary_conninfo")]
        lines.append(f"primary_conninfo = 'host=127.0.0.1 port={primary.port} user={USER}'")
        auto.write_text("\n".join(lines) + "\n")
        self.start()

    def sql(self, query: str, database: str = "postgres") -> str:
        result = _run(
            _as_postgres(
                [
                    str(BIN / "psql"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    USER,
                    "-d",
                    database,
                    "-At",
                    "-c",
                    query,
                ]
            )
        )
        return result.stdout.strip()


@dataclass
class Lab:
    root: Path
    clusters: list[Cluster]
    haproxy_port: int
    pgbouncer_port: int
    writer: int = 0

    @property
    def haproxy_url(self) -> str:
        return f"postgres://{USER}:@127.0.0.1:{self.haproxy_port}/{DATABASE}"

    @property
    def pgbouncer_url(self) -> str:
        # Transaction pooling cannot keep prepared statements: asyncpg's cache off.
        return f"postgres://{USER}:@127.0.0.1:{self.pgbouncer_port}/{DATABASE}?statement_cache_size=0"

    def direct_url(self, index: int) -> str:
        return f"postgres://{USER}:@127.0.0.1:{self.clusters[index].port}/{DATABASE}"

    # -- lifecycle -----------------------------------------------------------------------------
    @classmethod
    def create(cls, root: Path) -> Lab:
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)
        (root / "sockets").mkdir(exist_ok=True)
        if os.geteuid() == 0:
            uid, gid = pwd.getpwnam(USER).pw_uid, pwd.getpwnam(USER).pw_gid
            for path in (root, root / "sockets"):
                os.chown(path, uid, gid)
        lab = cls(
            root,
            [Cluster("pg1", root, free_port()), Cluster("pg2", root, free_port())],
            free_port(),
            free_port(),
        )
        primary, standby = lab.clusters
        primary.init_primary()
        primary.start()
        primary.sql(f"CREATE DATABASE {DATABASE}")
        standby.init_standby(primary)
        standby.start()
        lab._start_haproxy()
        lab._start_pgbouncer()
        lab.save()
        return lab

    def save(self) -> None:
        state = {
            "root": str(self.root),
            "clusters": [asdict(c) | {"root": str(c.root)} for c in self.clusters],
            "haproxy_port": self.haproxy_port,
            "pgbouncer_port": self.pgbouncer_port,
            "writer": self.writer,
        }
        (self.root / "lab.json").write_text(json.dumps(state))

    @classmethod
    def load(cls, root: Path) -> Lab:
        state = json.loads((root / "lab.json").read_text())
        clusters = [Cluster(c["name"], Path(c["root"]), c["port"]) for c in state["clusters"]]
        return cls(
            Path(state["root"]), clusters, state["haproxy_port"], state["pgbouncer_port"], state["writer"]
        )

    def destroy(self) -> None:
        for pidfile in ("haproxy.pid", "pgbouncer.pid"):
            path = self.root / pidfile
            if path.exists():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(path.read_text().split()[0]), 15)
        for cluster in self.clusters:
            with contextlib.suppress(subprocess.CalledProcessError):
                cluster.stop()

    # -- routing -------------------------------------------------------------------------------
    def _start_haproxy(self) -> None:
        servers = "\n".join(
            f"    server {c.name} 127.0.0.1:{c.port}{'' if i == self.writer else ' disabled'}"
            for i, c in enumerate(self.clusters)
        )
        (self.root / "haproxy.cfg").write_text(
            "global\n"
            f"    stats socket {self.root / 'haproxy.sock'} mode 600 level admin\n"
            "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1h\n    timeout server 1h\n"
            f"frontend postgres\n    bind 127.0.0.1:{self.haproxy_port}\n    default_backend writer\n"
            f"backend writer\n{servers}\n"
        )
        _run(["haproxy", "-D", "-p", str(self.root / "haproxy.pid"), "-f", str(self.root / "haproxy.cfg")])
        wait_port(self.haproxy_port)

    def haproxy(self, command: str) -> str:
        """One command on HAProxy's admin socket."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(self.root / "haproxy.sock"))
            s.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def route_to(self, index: int | None) -> None:
        """Send new connections to cluster `index` only (None: nowhere); cut the others' sessions."""
        for i, cluster in enumerate(self.clusters):
            if i != index:
                self.haproxy(f"set server writer/{cluster.name} state maint")
                self.haproxy(f"shutdown sessions server writer/{cluster.name}")
        if index is not None:
            self.haproxy(f"set server writer/{self.clusters[index].name} state ready")

    def _start_pgbouncer(self) -> None:
        (self.root / "userlist.txt").write_text(f'"{USER}" ""\n')
        (self.root / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"{DATABASE} = host=127.0.0.1 port={self.haproxy_port} dbname={DATABASE}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.pgbouncer_port}\n"
            f"unix_socket_dir = {self.root / 'sockets'}\n"
            f"auth_type = trust\nauth_file = {self.root / 'userlist.txt'}\n"
            f"pidfile = {self.root / 'pgbouncer.pid'}\nlogfile = {self.root / 'pgbouncer.log'}\n"
            "pool_mode = transaction\nmax_client_conn = 200\ndefault_pool_size = 20\n"
            # Re-dial a vanished server after 1 s (default 15 s) and give up queued queries
            # after 10 s: the service retries from its outbox rather than hang.
            "server_login_retry = 1\nquery_wait_timeout = 10\nserver_connect_timeout = 2\n"
        )
        if os.geteuid() == 0:
            for name in ("pgbouncer.ini", "userlist.txt"):
                shutil.chown(self.root / name, USER, USER)
        _run(_as_postgres(["pgbouncer", "-d", str(self.root / "pgbouncer.ini")]))
        wait_port(self.pgbouncer_port)

    # -- scenarios -----------------------------------------------------------------------------
    def flip(self) -> float:
        """Clean switchover to the other cluster; returns how long writes had nowhere to go."""
        old, new = self.writer, 1 - self.writer
        started = time.monotonic()
        self.route_to(None)
        self.clusters[old].stop()
        self.clusters[new].promote()
        self.writer = new
        self.route_to(new)
        unroutable = time.monotonic() - started
        self.clusters[old].follow(self.clusters[new])
        self.save()
        return unroutable

    def outage(self, seconds: float) -> None:
        """Both clusters away for `seconds`, then the writer (and its standby) back."""
        self.route_to(None)
        writer, standby = self.clusters[self.writer], self.clusters[1 - self.writer]
        standby.stop()
        writer.stop()
        time.sleep(seconds)
        writer.start()
        standby.start()
        self.route_to(self.writer)


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m failover.lab",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["up", "flip", "outage", "down"])
    parser.add_argument("root", type=Path)
    parser.add_argument("seconds", type=float, nargs="?", default=10.0)
    args = parser.parse_args()
    if args.command == "up":
        lab = Lab.create(args.root)
        print(f"writer: {lab.clusters[lab.writer].name}")
        print(f"haproxy: {lab.haproxy_url}")
        print(f"pgbouncer: {lab.pgbouncer_url}")
        return 0
    lab = Lab.load(args.root)
    if args.command == "flip":
        print(f"writer moved to {lab.clusters[1 - lab.writer].name} in {lab.flip():.2f} s")
    elif args.command == "outage":
        lab.outage(args.seconds)
        writer = lab.clusters[lab.writer].name
        print(f"both clusters were down for {args.seconds:.0f} s; writer {writer} is back")
    else:
        lab.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
