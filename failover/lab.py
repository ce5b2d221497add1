"""A local failover lab: two Postgres 15 clusters (streaming replication), HAProxy, pgbouncer.

Everything runs as local processes on 127.0.0.1 in one directory: Postgres as the `postgres`
user (initdb and pg_ctl refuse root), HAProxy with an admin socket that decides which cluster
is the writer, pgbouncer (transaction pooling) in front of HAProxy. Replication is synchronous
by default (a commit returns once the standby has flushed it); `up --async` makes it
asynchronous.

    python -m failover.lab up DIR [--async]    start the lab in DIR and print its endpoints
    python -m failover.lab flip DIR    move the writer to the other cluster (clean switchover)
    python -m failover.lab crash DIR   SIGKILL the writer and fail over to the standby
    python -m failover.lab outage DIR SECONDS   take both clusters away, then bring the writer back
    python -m failover.lab down DIR    stop everything

A flip is a planned switchover that loses nothing: HAProxy stops routing to the writer and cuts
its sessions, the writer shuts down cleanly (its standby receives every WAL record first), the
standby is promoted, the old writer restarts as a standby of the new one, and HAProxy routes to
the new writer. A crash is unplanned: the writer's processes are killed, the standby is promoted
with whatever WAL it has, and the old writer is rewound (pg_rewind) to follow the new one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

BIN = Path(os.environ.get("THROTTLING_PG_BIN", "/usr/lib/postgresql/15/bin"))
DATABASE = "throttling"
USER = "postgres"


def _as_postgres(command: list[str]) -> list[str]:
    """Postgres tools refuse root: run them as the postgres user when we are root."""
    return ["runuser", "-u", USER, "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120, **kwargs)  # type: ignore[call-overload, no-any-return]
    except subprocess.CalledProcessError as error:
        raise RuntimeError(f"{' '.join(command)} failed: {(error.stderr or error.stdout).strip()}") from error


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(ready: Callable[[], bool], failure: Callable[[], str], timeout: float = 30.0) -> None:
    """Poll `ready` until it holds; after `timeout` seconds raise TimeoutError with `failure()`."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{failure()} (waited {timeout:.0f} s)")
        time.sleep(0.05)


def wait_port(port: int, timeout: float = 30.0) -> None:
    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_until(listening, lambda: f"nothing listens on 127.0.0.1:{port}", timeout)


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, waiting for a parent that may never reap it, is gone)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


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
        try:
            _run(
                _as_postgres(
                    [str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", "-t", "60", *args]
                )
            )
        except RuntimeError as error:
            tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
            raise RuntimeError("\n".join([str(error), f"last lines of {log}:", *tail])) from error

    def init_primary(self) -> None:
        _run(
            _as_postgres(
                [
                    str(BIN / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    USER,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            )
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.sockets}'\n"
                "wal_level = replica\nmax_wal_senders = 10\nhot_standby = on\n"
                # pg_rewind (after a crash) needs hint bits WAL-logged, full-page writes, and the
                # target's WAL back to the last checkpoint before the histories diverged.
                "wal_log_hints = on\nfull_page_writes = on\nwal_keep_size = 128MB\n"
                # A lab: speed over durability against power loss. A killed process loses
                # nothing the kernel holds, so crashes (SIGKILL) are still real crashes.
                "max_connections = 100\nfsync = off\n"
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
                    "--no-sync",
                ]
            )
        )

    def start(self) -> None:
        self._ctl("-o", f"-p {self.port}", "start")

    def stop(self, mode: str = "fast") -> None:
        """Shut down: `fast` is clean (a checkpoint, every WAL record to the standby); `immediate`
        skips all that, for a lab being thrown away."""
        if (self.data / "postmaster.pid").exists():
            self._ctl("-m", mode, "stop")

    def reload(self) -> None:
        self._ctl("reload")

    def kill(self) -> None:
        """SIGKILL the postmaster and every process it started, as a crash of its machine would."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        processes = [postmaster, *_children(postmaster)]
        for pid in processes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_until(
            lambda: not any(_alive(pid) for pid in processes),
            lambda: f"{self.name}: processes {[p for p in processes if _alive(p)]} survived SIGKILL",
        )
        # A rebooted machine has no stale lock files either (a zombie not yet reaped holds them).
        for lock in (self.data / "postmaster.pid", self.sockets / f".s.PGSQL.{self.port}.lock"):
            lock.unlink(missing_ok=True)

    def rewind(self, source: Cluster) -> None:
        """Make a crashed former writer a copy of `source` from where their histories diverged."""
        # pg_rewind reads the source's timeline from its control file, which a promotion updates
        # only at its first checkpoint: without one it sees no divergence and rewinds nothing.
        source.sql("CHECKPOINT")
        _run(
            _as_postgres(
                [
                    str(BIN / "pg_rewind"),
                    "--no-sync",
                    "-D",
                    str(self.data),
                    f"--source-server=host=127.0.0.1 port={source.port} user={USER} dbname=postgres",
                ]
            )
        )

    def promote(self) -> None:
        self._ctl("promote")
        wait_until(
            lambda: self.sql("SELECT pg_is_in_recovery()") == "f", lambda: f"{self.name} is still in recovery"
        )

    def follow(self, primary: Cluster) -> None:
        """Restart as a standby of `primary` (after a clean shutdown nothing needs rewinding)."""
        (self.data / "standby.signal").touch()
        if os.geteuid() == 0:
            shutil.chown(self.data / "standby.signal", USER, USER)
        self.set_primary(primary)
        self.start()

    def set_primary(self, primary: Cluster | None) -> None:
        """Stream from `primary` (None: from nowhere); takes effect on start or reload."""
        auto = self.data / "postgresql.auto.conf"
        lines = [line for line in auto.read_text().splitlines() if not line.startswith("primary_conninfo")]
        conninfo = "" if primary is None else f"host=127.0.0.1 port={primary.port} user={USER}"
        lines.append(f"primary_conninfo = '{conninfo}'")
        auto.write_text("\n".join(lines) + "\n")

    def configure(self, settings: str) -> None:
        """Append `settings` to postgresql.conf and reload."""
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(settings)
        self.reload()

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


def replication_settings(synchronous: bool) -> str:
    """Synchronous: a commit returns once a standby has flushed its WAL, so a promoted standby
    has every acknowledged transaction, and commits wait while no standby is connected."""
    if synchronous:
        return "synchronous_standby_names = '*'\nsynchronous_commit = on\n"
    return "synchronous_standby_names = ''\n"


@dataclass
class Lab:
    root: Path
    clusters: list[Cluster]
    haproxy_port: int
    pgbouncer_port: int
    writer: int = 0
    synchronous: bool = True

    @property
    def standby(self) -> int:
        return 1 - self.writer

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
    def create(cls, root: Path, synchronous: bool = True) -> Lab:
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
            synchronous=synchronous,
        )
        primary, standby = lab.clusters
        primary.init_primary()
        primary.start()
        primary.sql(f"CREATE DATABASE {DATABASE}")
        standby.init_standby(primary)
        standby.start()
        # Only now: with synchronous replication and no standby, CREATE DATABASE would wait.
        for cluster in lab.clusters:
            cluster.configure(replication_settings(synchronous))
        lab.wait_for_standby()
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
            "synchronous": self.synchronous,
        }
        (self.root / "lab.json").write_text(json.dumps(state))

    @classmethod
    def load(cls, root: Path) -> Lab:
        state = json.loads((root / "lab.json").read_text())
        clusters = [Cluster(c["name"], Path(c["root"]), c["port"]) for c in state["clusters"]]
        return cls(
            Path(state["root"]),
            clusters,
            state["haproxy_port"],
            state["pgbouncer_port"],
            state["writer"],
            state.get("synchronous", True),
        )

    def destroy(self) -> None:
        for pidfile in ("haproxy.pid", "pgbouncer.pid"):
            path = self.root / pidfile
            if path.exists():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(path.read_text().split()[0]), 15)
        for cluster in self.clusters:
            with contextlib.suppress(RuntimeError):
                cluster.stop("immediate")

    # -- replication ---------------------------------------------------------------------------
    def wait_for_standby(self, timeout: float = 30.0) -> None:
        """Return once the standby streams from the writer (as a synchronous standby if so
        configured) and has replayed what the writer had written (so it follows its timeline)."""
        expected = "sync" if self.synchronous else "async"
        writer = self.clusters[self.writer]
        query = "SELECT string_agg(sync_state, ',') FROM pg_stat_replication WHERE state = 'streaming'"
        wait_until(
            lambda: writer.sql(query) == expected,
            lambda: (
                f"{self.clusters[self.standby].name} does not stream from {writer.name} as an "
                f"{expected} standby (pg_stat_replication: {writer.sql(query) or 'empty'})"
            ),
            timeout,
        )
        self.wait_for_replay(timeout)

    def wait_for_replay(self, timeout: float = 30.0) -> None:
        """Return once the standby has replayed everything the writer has written so far."""
        writer, standby = self.clusters[self.writer], self.clusters[self.standby]
        target = writer.sql("SELECT pg_current_wal_lsn()")
        replayed = f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"
        wait_until(
            lambda: standby.sql(replayed) == "t",
            lambda: (
                f"{standby.name} has replayed only up to "
                f"{standby.sql('SELECT pg_last_wal_replay_lsn()')} of {writer.name}'s {target}"
            ),
            timeout,
        )

    def detach_standby(self) -> None:
        """Stop streaming to the standby (as a network partition would) until it is rebuilt."""
        standby, writer = self.clusters[self.standby], self.clusters[self.writer]
        standby.set_primary(None)
        standby.reload()
        wait_until(
            lambda: writer.sql("SELECT count(*) FROM pg_stat_replication") == "0",
            lambda: f"{standby.name} still streams from {writer.name}",
        )

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
        self.wait_for_standby()
        return unroutable

    def crash(self) -> float:
        """Unplanned failover: SIGKILL the writer, promote the standby with whatever WAL it has,
        then rewind the old writer and make it follow. Returns how long writes had nowhere to go."""
        old, new = self.writer, self.standby
        started = time.monotonic()
        self.clusters[old].kill()
        self.route_to(None)
        self.clusters[new].promote()
        self.writer = new
        self.save()
        self.route_to(new)
        unroutable = time.monotonic() - started
        self.clusters[old].rewind(self.clusters[new])
        self.clusters[old].follow(self.clusters[new])
        self.wait_for_standby()
        return unroutable

    def outage(self, seconds: float) -> None:
        """Both clusters away for `seconds`, then the writer (and its standby) back."""
        self.route_to(None)
        writer, standby = self.clusters[self.writer], self.clusters[self.standby]
        standby.stop()
        writer.stop()
        time.sleep(seconds)  # the outage itself, not a wait for anything
        writer.start()
        standby.start()
        self.route_to(self.writer)
        self.wait_for_standby()


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m failover.lab",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["up", "flip", "crash", "outage", "down"])
    parser.add_argument("root", type=Path)
    parser.add_argument("seconds", type=float, nargs="?", default=10.0)
    parser.add_argument("--async", dest="synchronous", action="store_false", help="asynchronous replication")
    args = parser.parse_args()
    if args.command == "up":
        lab = Lab.create(args.root, synchronous=args.synchronous)
        mode = "synchronous" if lab.synchronous else "asynchronous"
        print(f"writer: {lab.clusters[lab.writer].name} ({mode} replication)")
        print(f"haproxy: {lab.haproxy_url}")
        print(f"pgbouncer: {lab.pgbouncer_url}")
        return 0
    lab = Lab.load(args.root)
    if args.command == "flip":
        print(f"writer moved to {lab.clusters[1 - lab.writer].name} in {lab.flip():.2f} s")
    elif args.command == "crash":
        print(f"writer killed; {lab.clusters[1 - lab.writer].name} took over in {lab.crash():.2f} s")
    elif args.command == "outage":
        lab.outage(args.seconds)
        writer = lab.clusters[lab.writer].name
        print(f"both clusters were down for {args.seconds:.0f} s; writer {writer} is back")
    else:
        lab.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
