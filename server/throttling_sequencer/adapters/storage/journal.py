"""The outbox's files: append-only journal segments, a poison file, and a lock, in one directory.

A journal directory belongs to one process at a time (`flock` on its `lock` file, held for the
outbox's lifetime). Answered plans are appended to numbered segment files as JSON lines, each
append flushed and fsync'd; a segment is deleted (or, if it is the one being written, emptied)
once every plan in it is stored, so draining costs nothing per stored plan but an unlink now and
then. Plans the database refuses for good are appended to `poison.jsonl`, never dropped.

Everything here runs on the outbox's single journal thread, except `lock`, `release` and `read`,
which run before that thread starts or after it ends.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from loguru import logger

from throttling_sequencer.adapters.storage import codec
from throttling_sequencer.domain.model import Plan

SEGMENT = re.compile(r"^(\d{12})\.jsonl$")
#: A journal directory is `outbox-<worker index>`; a single-file journal of older releases is
#: `outbox-<worker index>.jsonl` next to it, and is adopted on start.
JOURNAL = re.compile(r"^outbox-(\d+)$")
LOCK = "lock"
#: Why a process holds a journal's lock: it owns the journal, or adopts it for a moment at start.
OWNER, ADOPTER = "owner", "adopting"
POISON = "poison.jsonl"


class JournalInUse(RuntimeError):
    """Another process holds this journal: two processes must never append to one journal."""


def encode(plan: Plan) -> bytes:
    return (json.dumps(codec.plan_to_json(plan), separators=(",", ":")) + "\n").encode()


def decode(path: Path, damaged: list[bytes] | None = None) -> Iterator[Plan]:
    """The plans in one journal file.

    A torn last line (a crash mid-write: never acknowledged) is skipped. A complete line that
    cannot be read was acknowledged once; it is added to `damaged` as a poison-file record, so
    that it is kept (and counted) rather than deleted with its segment.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    lines = data.split(b"\n")  # the last item is what follows the last newline: b"" or a torn line
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield codec.plan_from_json(json.loads(line))
        except (ValueError, KeyError, TypeError, RecursionError) as error:
            torn = number == len(lines)
            logger.warning(
                "skipping a torn journal line" if torn else "keeping an unreadable journal line as poison",
                journal=str(path),
                line=number,
            )
            if not torn and damaged is not None:
                damaged.append(_unreadable_record(path, number, line, error))


def _unreadable_record(path: Path, number: int, line: bytes, error: Exception) -> bytes:
    """A poison-file record holding an unreadable line's exact bytes (`surrogateescape`)."""
    record = {
        "at": datetime.now(UTC).isoformat(),
        "error": f"unreadable journal line {number} of {path}: {type(error).__name__}: {error}"[:500],
        "line": line.decode("utf-8", "surrogateescape"),
    }
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def index_of(directory: Path) -> int | None:
    match = JOURNAL.match(directory.name)
    return int(match.group(1)) if match else None


def legacy_file(directory: Path) -> Path:
    """Where a release before segmented journals kept this journal's plans."""
    return directory.with_name(directory.name + ".jsonl")


def alive(pid: int) -> bool:
    """Whether a process with this id runs here (one in another PID namespace does not count)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync(fd: int) -> None:
    os.fsync(fd)  # looked up at call time, so a test can make the disk fail


class Journal:
    """One journal directory."""

    def __init__(self, directory: Path, fsync: Callable[[int], None] = _fsync) -> None:
        self.directory = directory
        self.fsync = fsync
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._segment = -1  # the segment `_fd` appends to
        self._size = 0  # bytes of `_segment` known to be durable
        #: (segment, durable size) when a failed append could not be cut off: repaired before
        #: anything else is appended, so a plan reported failed is never replayed later.
        self._torn: tuple[int, int] | None = None
        self.bytes_written = 0

    # -- ownership (any thread, before or after the journal thread runs) --------------------

    def lock(self, role: str = OWNER) -> bool:
        """Take the journal for this process, as its owner or to adopt it (`role`, written in the
        lock file for whoever waits); False if another process holds it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {role}\n".encode())
        self._lock_fd = fd
        return True

    def holder(self) -> tuple[int, str]:
        """Who holds the lock and why, as far as its file says: (pid, role), (0, "") if unknown.
        Written just after the lock is taken, so it may still name the previous holder."""
        try:
            pid, role = (self.directory / LOCK).read_text().split()
            return int(pid), role
        except (OSError, ValueError):
            return 0, ""

    def release(self) -> None:
        self.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    def segments(self) -> list[int]:
        if not self.directory.is_dir():
            return []
        numbers = []
        for path in self.directory.iterdir():
            match = SEGMENT.match(path.name)
            if match:
                numbers.append(int(match.group(1)))
        return sorted(numbers)

    def path(self, segment: int) -> Path:
        return self.directory / f"{segment:012d}.jsonl"

    def read(self) -> list[Plan]:
        """Every plan in every segment, oldest segment first (duplicates possible)."""
        return [plan for segment in self.segments() for plan in decode(self.path(segment))]

    def poisoned(self) -> int:
        try:
            with (self.directory / POISON).open("rb") as lines:
                return sum(1 for line in lines if line.strip())
        except FileNotFoundError:
            return 0

    # -- the journal thread -------------------------------------------------------------------

    def append(self, segment: int, data: bytes) -> None:
        """Append and fsync; on failure the segment is cut back to its last durable byte."""
        self._repair()
        fd = self._open(segment)
        good = self._size
        try:
            _write(fd, data)
            self.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, good)
                self.fsync(fd)
            except OSError:
                self._torn = (segment, good)
            raise
        self._size = good + len(data)
        self.bytes_written += len(data)

    def discard(self, segment: int, active: bool) -> None:
        """Forget a segment whose plans are all stored: empty it if appends still go there
        (`active`), else unlink it.

        Not fsync'd: should the machine lose this, the segment's plans are stored again on the
        next start, which is harmless (inserts ignore ids already stored).
        """
        if active and segment == self._segment and self._fd is not None:
            os.ftruncate(self._fd, 0)
            self._size = 0
        else:
            if segment == self._segment:
                self.close()
            with contextlib.suppress(FileNotFoundError):
                self.path(segment).unlink()
        if self._torn is not None and self._torn[0] == segment:
            self._torn = None

    def set_aside(self, plan: Plan, error: str) -> None:
        """Keep a plan the database refused for good in the poison file (fsync'd)."""
        record = {"at": datetime.now(UTC).isoformat(), "error": error, "plan": codec.plan_to_json(plan)}
        self.keep_poisoned([json.dumps(record, separators=(",", ":")).encode() + b"\n"])

    def keep_poisoned(self, lines: list[bytes]) -> None:
        fd = os.open(self.directory / POISON, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        good = os.fstat(fd).st_size
        try:
            _write(fd, b"".join(lines))
            self.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):  # kept on the next attempt, so not twice
                os.ftruncate(fd, good)
            raise
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._segment = -1

    def _open(self, segment: int) -> int:
        if self._fd is not None and self._segment == segment:
            return self._fd
        self.close()
        path = self.path(segment)
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._fd, self._segment, self._size = fd, segment, os.fstat(fd).st_size
        if created:  # the new file's name must survive a crash too
            directory = os.open(self.directory, os.O_RDONLY)
            try:
                self.fsync(directory)
            finally:
                os.close(directory)
        return fd

    def _repair(self) -> None:
        if self._torn is None:
            return
        segment, good = self._torn
        fd = self._open(segment)
        os.ftruncate(fd, good)
        self.fsync(fd)
        self._size = good
        self._torn = None


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def poisoned_lines(directory: Path) -> list[bytes]:
    try:
        return [line + b"\n" for line in (directory / POISON).read_bytes().splitlines() if line.strip()]
    except FileNotFoundError:
        return []
