"""Hash-chained JSON Lines audit log: the writer and its verifier (SPEC §7, §8).

Every record is one line of canonical, ASCII-only JSON whose ``prev`` field is the
hex SHA-256 of the previous record's line (without its newline), so deleting,
reordering or editing a record breaks the chain. ``seq`` grows by one per record
and continues across restarts and log rotations.

The writer deliberately uses raw file descriptors rather than ``logging`` or
buffered files: Python's logging swallows write errors (disk full, permissions)
and buffered files hide short writes. Here every failure surfaces as
:class:`AuditError`, a failed record never advances the chain, and a partially
written line is cut off again before the next record is appended.

Next to the log sits a small "chain sidecar", ``<path>.chain``, holding the
``seq`` and hash of the last record. It lets a restart after a rotation (the
configured path is now a new, empty file) continue the chain, and it lets the
verifier detect an edit of the very last record, which the chain alone cannot.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import hashlib
import json
import math
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

__all__ = [
    "FIELDS",
    "GENESIS_PREV",
    "AuditCorrupt",
    "AuditError",
    "AuditEvent",
    "AuditInUse",
    "AuditLog",
    "VerifyResult",
    "chain_path",
    "summary",
    "verify",
]

# Serialisation order of a record's keys; the verifier insists on exactly these.
FIELDS: tuple[str, ...] = (
    "seq",
    "time",
    "event",
    "route",
    "reason",
    "outcome",
    "status",
    "client",
    "user",
    "credentials",
    "request_id",
    "forwarded",
    "prev",
)

# A `suppressed` record (SPEC §7.1) also carries `count`, just before `prev`.
_FIELDS_WITH_COUNT: tuple[str, ...] = (*FIELDS[:-1], "count", "prev")

# ``prev`` of the very first record of a chain.
GENESIS_PREV = "0" * 64

_HASH_RE = re.compile(r"[0-9a-f]{64}")
_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_OPTIONAL_STR_FIELDS = ("route", "reason", "outcome", "client", "user", "request_id")

# The sidecar is rewritten in place (pwrite at offset 0) with a fixed width, so a
# shorter new value never leaves a tail of the old one behind. 128 bytes fit the
# largest 64-bit seq plus the hash, and stay within one disk sector.
_CHAIN_WIDTH = 128
_TAIL_CHUNK = 8192


class AuditError(Exception):
    """The audit log could not be opened, written or synced.

    Always raised, never swallowed: the caller answers 503 ``audit_unavailable``.
    """


class AuditInUse(AuditError):
    """At open: another process (a second gateway, or `mitmdump -s` with the
    same config) holds the audit file; two writers would break the chain."""


class AuditCorrupt(AuditError):
    """At open: the existing log does not end with a valid record (or disagrees
    with its chain sidecar), so the chain cannot be continued safely."""


def _dumps(obj: object) -> str:
    # ensure_ascii escapes every non-ASCII character (including U+2028/U+2029) and
    # json escapes every control character (newline, ESC, ...), so one record is
    # always exactly one line, and the hashed bytes are plain ASCII.
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"))


def _line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _format_time(t: float) -> str:
    # Floor to whole milliseconds so the stamp never lies about being later than
    # the clock reading (rounding could roll over into the next second).
    total_ms = math.floor(t * 1000)
    secs, ms = divmod(total_ms, 1000)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}Z"


def chain_path(path: Path) -> Path:
    """Where the chain sidecar of the audit file ``path`` lives."""
    return path.with_name(path.name + ".chain")


def lock_path(path: Path) -> Path:
    """The lock file of the audit file ``path``. A file of its own (not the log,
    not the sidecar) so that logrotate's rename never moves the lock away."""
    return path.with_name(path.name + ".lock")


def _take_lock(log_path: Path) -> int:
    """Exclusive, non-blocking flock on the lock file for this process's life
    (SPEC §7.1), with our pid inside for the message the next one prints.
    Raises AuditInUse, or OSError."""
    path = lock_path(log_path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise AuditInUse(
            f"audit log {log_path} is in use by another gateway (pid {holder})"
        ) from None
    except OSError:
        os.close(fd)
        raise
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:
        os.close(fd)  # closing releases the lock
        raise
    return fd


@dataclass(frozen=True)
class AuditEvent:
    """What the engine hands in; the writer adds ``seq``, ``time`` and ``prev``."""

    event: str
    route: str | None = None
    reason: str | None = None
    outcome: str | None = None
    status: int | None = None
    client: str | None = None
    user: str | None = None
    credentials: tuple[str, ...] = ()
    request_id: str | None = None
    forwarded: bool = False
    # Only on `suppressed` records (SPEC §7.1): how many records were counted,
    # not written. Serialised just before `prev`, and only when set.
    count: int | None = None

    def __post_init__(self) -> None:
        # Validate here, where the bad value is created, so a programming error can
        # never surface later as an unserialisable (or misleading) audit record.
        if not isinstance(self.event, str) or not self.event:
            raise TypeError("AuditEvent.event must be a non-empty str")
        for name in _OPTIONAL_STR_FIELDS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"AuditEvent.{name} must be str or None")
        if self.status is not None and (
            isinstance(self.status, bool) or not isinstance(self.status, int)
        ):
            raise TypeError("AuditEvent.status must be int or None")
        if not isinstance(self.forwarded, bool):
            raise TypeError("AuditEvent.forwarded must be bool")
        if self.count is not None and (
            isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1
        ):
            raise TypeError("AuditEvent.count must be a positive int or None")
        creds: Any = self.credentials
        # A bare string would be iterated character by character: refuse it.
        if isinstance(creds, str | bytes) or not isinstance(creds, tuple | list):
            raise TypeError("AuditEvent.credentials must be a tuple of fingerprint strings")
        if not all(isinstance(c, str) for c in creds):
            raise TypeError("AuditEvent.credentials must contain only str fingerprints")
        if isinstance(creds, list):
            object.__setattr__(self, "credentials", tuple(creds))


class AuditWriter(Protocol):
    """What the engine writes audit events to: `AuditLog`, or an in-memory
    collector (`gateway replay`)."""

    async def write(self, ev: AuditEvent) -> dict[str, object]: ...


def _check_record(obj: object) -> str | None:
    """Why ``obj`` is not a well-formed record (ignoring the chain), or None."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    keys = list(obj)
    if keys != list(FIELDS) and keys != list(_FIELDS_WITH_COUNT):
        missing = [f for f in FIELDS if f not in obj]
        extra = [k for k in keys if k not in _FIELDS_WITH_COUNT]
        if missing:
            return "missing field(s): " + ", ".join(missing)
        if extra:
            return "unexpected field(s): " + ", ".join(extra)
        return "fields are not in the canonical order"
    seq = obj["seq"]
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        return "seq is not a positive integer"
    if not isinstance(obj["time"], str) or not _TIME_RE.fullmatch(obj["time"]):
        return "time is not RFC 3339 UTC with milliseconds"
    if not isinstance(obj["event"], str) or not obj["event"]:
        return "event is not a non-empty string"
    for name in _OPTIONAL_STR_FIELDS:
        if obj[name] is not None and not isinstance(obj[name], str):
            return f"{name} is not a string or null"
    status = obj["status"]
    if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
        return "status is not an integer or null"
    creds = obj["credentials"]
    if not isinstance(creds, list) or not all(isinstance(c, str) for c in creds):
        return "credentials is not a list of strings"
    if not isinstance(obj["forwarded"], bool):
        return "forwarded is not a boolean"
    if "count" in obj:
        count = obj["count"]
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            return "count is not a positive integer"
        if obj["event"] != "suppressed":
            return "count is only allowed on suppressed records"
    prev = obj["prev"]
    if not isinstance(prev, str) or not _HASH_RE.fullmatch(prev):
        return "prev is not a hex SHA-256"
    if seq == 1 and prev != GENESIS_PREV:
        return "seq 1 must have prev = 64 zeros"
    return None


def _parse_line(line: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """Parse one line (without its newline) into a record, or say why not."""
    if not line:
        return None, "blank line"
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        return None, "non-ASCII bytes (every string must be escaped)"
    try:
        obj = json.loads(text)
    except ValueError as e:
        return None, f"not valid JSON ({e})"
    why = _check_record(obj)
    if why is not None:
        return None, why
    # The writer only ever produces the canonical form; anything else (extra
    # whitespace, duplicate keys, different escaping) was written by someone else.
    if _dumps(obj) != text:
        return None, "not in canonical form (the writer never produces this line)"
    return obj, None


def _parse_chain(data: bytes) -> tuple[int, str] | None:
    """Decode a sidecar's content into (seq, hash); None when empty or invalid."""
    try:
        obj = json.loads(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(obj, dict) or set(obj) != {"seq", "hash"}:
        return None
    seq, h = obj["seq"], obj["hash"]
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        return None
    if not isinstance(h, str) or not _HASH_RE.fullmatch(h):
        return None
    return seq, h


def _encode_chain(seq: int, h: str) -> bytes:
    body = _dumps({"seq": seq, "hash": h}).encode("ascii")
    return body.ljust(_CHAIN_WIDTH - 1) + b"\n"


def _write_all(fd: int, data: bytes) -> None:
    # os.write may write less than asked (e.g. just before ENOSPC); loop until all
    # of it is written or the kernel reports the error.
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:  # pragma: no cover - a regular file never returns 0 for n > 0
            raise OSError(errno.EIO, "short write")
        view = view[n:]


def _read_last_line(fd: int, size: int) -> bytes:
    """The last line of a non-empty file, without its newline; reads from the end
    in chunks so a large log costs no more than its last record."""
    if os.pread(fd, 1, size - 1) != b"\n":
        raise AuditCorrupt("does not end with a newline (a truncated last record)")
    pos = size - 1  # the final newline; the line ends just before it
    chunks: list[bytes] = []
    while pos > 0:
        start = max(0, pos - _TAIL_CHUNK)
        chunk = os.pread(fd, pos - start, start)
        if len(chunk) != pos - start:
            raise OSError(errno.EIO, "the audit file changed while it was read")
        nl = chunk.rfind(b"\n")
        if nl != -1:
            chunks.append(chunk[nl + 1 :])
            break
        chunks.append(chunk)
        pos = start
    return b"".join(reversed(chunks))


class AuditLog:
    """The audit writer. ``open()`` it once, then ``write()`` (async) or
    ``write_sync()`` records; thread-safe. ``reopen()`` on SIGHUP after logrotate
    (renames are also noticed by themselves before each write)."""

    def __init__(
        self,
        path: Path,
        *,
        fsync: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = Path(path)
        self._chain_path = chain_path(self._path)
        self._fsync = fsync
        self._clock = clock
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._chain_fd: int | None = None
        self._lock_fd: int | None = None  # held from open() to close()
        # Only a regular file gets the sidecar, rename detection and truncation of
        # partial lines; a device such as /dev/full or /dev/null is written as is.
        self._regular = False
        self._ident: tuple[int, int] | None = None
        self._chain_ident: tuple[int, int] | None = None
        self._seq = 0
        self._hash = GENESIS_PREV
        self._state_known = False  # open() recovered seq/prev at least once
        self._closed = False
        # After a failed write whose partial line could not be cut off right away:
        # the size to truncate back to before anything else is appended.
        self._pending_truncate: int | None = None

    # -- public API -------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    @property
    def last_seq(self) -> int:
        """``seq`` of the last record written (0 before the first one)."""
        return self._seq

    @property
    def last_hash(self) -> str:
        """Hash of the last record's line: the next record's ``prev``."""
        return self._hash

    def open(self) -> None:
        """Open (creating it, mode 0600) and recover ``seq``/``prev`` from the end of
        the existing file, or from the chain sidecar when the file is empty."""
        with self._lock:
            self._close_fds(raise_errors=False)
            self._closed = False
            self._state_known = False
            self._pending_truncate = None
            try:
                self._hold_file_lock()
                self._open_fds()
                seq, h = self._recover()
            except AuditError:
                self._close_fds(raise_errors=False)
                self._release_file_lock()
                raise
            except OSError as e:
                self._close_fds(raise_errors=False)
                self._release_file_lock()
                raise AuditError(f"cannot open audit log {self._path}: {_why(e)}") from e
            self._seq, self._hash = seq, h
            self._state_known = True

    def reopen(self) -> None:
        """Close and open the configured path again (SIGHUP / logrotate), keeping
        ``seq`` and ``prev``: the new file's first record chains to the old file's
        last."""
        with self._lock:
            if not self._state_known:
                raise AuditError("audit log was never opened")
            self._closed = False
            self._close_fds(raise_errors=False)
            self._reopen_fds()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._chain_fd is not None and self._fsync:
                try:
                    os.fsync(self._chain_fd)
                except OSError:
                    pass  # the main file is authoritative; closing still matters more
            try:
                self._close_fds(raise_errors=True)
            finally:
                self._release_file_lock()

    def __enter__(self) -> AuditLog:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def write_sync(self, ev: AuditEvent) -> dict[str, object]:
        """Append one record and (with ``fsync``) make it durable before returning
        it. Raises :class:`AuditError` on any failure; the chain then stays at the
        last record actually written."""
        with self._lock:
            if self._closed or not self._state_known:
                raise AuditError(f"audit log {self._path} is not open")
            try:
                self._prepare()
            except OSError as e:
                raise AuditError(f"cannot write audit log {self._path}: {_why(e)}") from e
            assert self._fd is not None
            seq = self._seq + 1
            record: dict[str, object] = {
                "seq": seq,
                "time": _format_time(self._clock()),
                "event": ev.event,
                "route": ev.route,
                "reason": ev.reason,
                "outcome": ev.outcome,
                "status": ev.status,
                "client": ev.client,
                "user": ev.user,
                "credentials": list(ev.credentials),
                "request_id": ev.request_id,
                "forwarded": ev.forwarded,
            }
            if ev.count is not None:
                record["count"] = ev.count
            record["prev"] = self._hash
            line = _dumps(record).encode("ascii")
            h = _line_hash(line)
            self._append(line + b"\n", seq, h)
            self._seq, self._hash = seq, h
            return record

    async def write(self, ev: AuditEvent) -> dict[str, object]:
        """``write_sync`` in a worker thread, keeping fsync off the event loop."""
        return await asyncio.to_thread(self.write_sync, ev)

    # -- internals (called with the lock held) ------------------------------------

    def _hold_file_lock(self) -> None:
        """One writer per audit file. A device (/dev/full in tests) has no chain
        to protect and no folder to put a lock file in."""
        if self._lock_fd is not None:
            return  # open() again in the same life: we already hold it
        try:
            st: os.stat_result | None = os.stat(self._path)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            return
        self._lock_fd = _take_lock(self._path)

    def _release_file_lock(self) -> None:
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            try:
                os.close(fd)  # releases the flock; the file stays (no unlink race)
            except OSError:
                pass

    def _open_fds(self) -> None:
        """Open the log (and, for a regular file, its sidecar); raises OSError."""
        try:
            st: os.stat_result | None = os.stat(self._path)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            # A device (e.g. /dev/full in tests) or other special file: write-only,
            # nothing to recover, no sidecar next to it.
            self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND)
            self._regular = False
            self._ident = None
            return
        if st is None:
            # 0700: the log names users and client addresses. Only the leaf
            # directory gets it; mkdir gives the parents the default mode.
            self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # O_RDWR so recovery can pread the tail through the same descriptor (and
        # thus the same inode) that will be appended to; O_APPEND for the writes.
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT
        self._fd = os.open(self._path, flags, 0o600)
        fst = os.fstat(self._fd)
        self._regular = stat.S_ISREG(fst.st_mode)
        self._ident = (fst.st_dev, fst.st_ino)
        if not self._regular:
            return
        self._chain_fd = os.open(self._chain_path, os.O_RDWR | os.O_CREAT, 0o600)
        cst = os.fstat(self._chain_fd)
        self._chain_ident = (cst.st_dev, cst.st_ino)
        if st is None and self._fsync:
            # A new directory entry is durable only once its directory is synced.
            _fsync_dir(self._path.parent)

    def _recover(self) -> tuple[int, str]:
        """(seq, hash) of the last record: from the file's last line, else from the
        sidecar, else the start of a new chain."""
        assert self._fd is not None
        if not self._regular:
            return 0, GENESIS_PREV
        size = os.fstat(self._fd).st_size
        chain = self._read_chain()
        if size == 0:
            if chain is None:
                data = self._read_chain_raw()
                if data.strip():
                    raise AuditCorrupt(
                        f"{self._path} is empty and its chain sidecar {self._chain_path} "
                        "is not valid: cannot continue the chain"
                    )
                return 0, GENESIS_PREV
            return chain
        try:
            line = _read_last_line(self._fd, size)
        except AuditCorrupt as e:
            raise AuditCorrupt(
                f"{self._path}: last line {e}; inspect it (`gateway audit verify`) and "
                "remove the partial line to continue the chain"
            ) from None
        record, why = _parse_line(line)
        if record is None:
            raise AuditCorrupt(f"{self._path}: last line is not a valid record: {why}")
        seq, h = int(record["seq"]), _line_hash(line)
        # The main file is authoritative; but if the sidecar vouches for this very
        # seq with another hash, the last record was altered after it was written.
        if chain is not None and chain[0] == seq and chain[1] != h:
            raise AuditCorrupt(
                f"{self._path}: last record (seq {seq}) does not match the hash in "
                f"{self._chain_path}: it was modified after it was written"
            )
        if chain != (seq, h):
            self._write_chain(seq, h)
        return seq, h

    def _read_chain_raw(self) -> bytes:
        assert self._chain_fd is not None
        return os.pread(self._chain_fd, 2 * _CHAIN_WIDTH, 0)

    def _read_chain(self) -> tuple[int, str] | None:
        return _parse_chain(self._read_chain_raw())

    def _write_chain(self, seq: int, h: str, *, sync: bool = True) -> None:
        """Record the chain's end in the sidecar. Per record it is not fsynced:
        the main file (fsynced) is authoritative whenever it is non-empty, and
        the sidecar only carries the chain over into an empty new file, so it is
        synced where that can happen: at open, reopen/rotation and close."""
        assert self._chain_fd is not None
        data = _encode_chain(seq, h)
        if os.pwrite(self._chain_fd, data, 0) != len(data):
            raise OSError(errno.EIO, "short write to the chain sidecar")
        if self._fsync and sync:
            os.fsync(self._chain_fd)

    def _reopen_fds(self) -> None:
        try:
            self._open_fds()
        except OSError as e:
            self._close_fds(raise_errors=False)
            raise AuditError(f"cannot reopen audit log {self._path}: {_why(e)}") from e
        if self._regular and self._seq > 0:
            # The sidecar may be new too (rotated along with the log): record the
            # chain's end right away, so a restart before the next record still
            # continues it; and make it durable, since the new file is empty.
            try:
                if self._read_chain() != (self._seq, self._hash):
                    self._write_chain(self._seq, self._hash)
                elif self._fsync:
                    os.fsync(self._chain_fd)  # type: ignore[arg-type]
            except OSError as e:
                self._close_fds(raise_errors=False)
                raise AuditError(f"cannot write chain sidecar {self._chain_path}: {_why(e)}") from e
        # A device may have been replaced by a regular file (or the reverse) since
        # the last open: any truncation still pending referred to the old file.
        self._pending_truncate = None

    def _prepare(self) -> None:
        """Before a write: reopen after a rotation (or an earlier failed reopen) and
        cut off a partial line left by an earlier failure. Raises OSError."""
        if self._fd is None:
            self._reopen_fds()
        elif self._regular and (
            _ident(self._path) != self._ident or _ident(self._chain_path) != self._chain_ident
        ):
            # logrotate renamed (or someone deleted) the file: start a new one at the
            # configured path, chaining on from the records kept in memory.
            self._close_fds(raise_errors=False)
            self._reopen_fds()
        if self._pending_truncate is not None and self._regular:
            assert self._fd is not None
            # Only shrink: if the file is already shorter (copytruncate), the partial
            # line is gone and ftruncate would pad it with zeros instead.
            if os.fstat(self._fd).st_size > self._pending_truncate:
                os.ftruncate(self._fd, self._pending_truncate)
            self._pending_truncate = None

    def _append(self, data: bytes, seq: int, h: str) -> None:
        assert self._fd is not None
        fd = self._fd
        start: int | None = None
        chain_touched = False
        try:
            if self._regular:
                # With O_APPEND the line lands at the current end; remember it to
                # cut a partial line off again (works after copytruncate too).
                start = os.fstat(fd).st_size
            _write_all(fd, data)
            if self._fsync:
                _fsync(fd, self._regular)
            if self._regular:
                chain_touched = True
                self._write_chain(seq, h, sync=False)
        except OSError as e:
            self._rollback(start, chain_touched)
            raise AuditError(f"cannot write audit log {self._path}: {_why(e)}") from e

    def _rollback(self, start: int | None, chain_touched: bool) -> None:
        """Undo a failed append so the next record chains to the last good one."""
        if start is None:
            return
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, start)
        except OSError:
            # Retried before the next write (which fails rather than append after
            # a partial line if the truncation keeps failing).
            self._pending_truncate = start
        if chain_touched:
            try:
                self._write_chain(self._seq, self._hash)
            except OSError:
                pass  # the sidecar trails the main file, which is authoritative

    def _close_fds(self, *, raise_errors: bool) -> None:
        first: OSError | None = None
        for fd in (self._fd, self._chain_fd):
            if fd is None:
                continue
            try:
                os.close(fd)
            except OSError as e:
                first = first or e
        self._fd = self._chain_fd = None
        self._ident = self._chain_ident = None
        if first is not None and raise_errors:
            raise AuditError(f"cannot close audit log {self._path}: {_why(first)}") from first


def _why(e: OSError) -> str:
    return e.strerror or str(e)


def _fsync(fd: int, regular: bool) -> None:
    try:
        os.fsync(fd)
    except OSError as e:
        # A pipe, tty or /dev/null (audit to stdout, or deliberately discarded) has
        # nothing to sync and answers EINVAL; on a regular file every error counts.
        if regular or e.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise


def _ident(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as e:
        # Some filesystems cannot sync a directory; that is not a failed write.
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


# -- verifier -------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    files: int
    first_seq: int | None
    last_seq: int | None
    last_hash: str | None
    error: str | None


def verify(paths: Sequence[Path]) -> VerifyResult:
    """Check audit files given oldest first; each rotated file chains into the next.

    Every line must be a canonical record with exactly the FIELDS keys, ``seq`` one
    more than the previous record's, and ``prev`` the SHA-256 of the previous line.
    The first record of the first file is trusted as the anchor (its ``prev`` must
    be zeros only when its ``seq`` is 1), so a tail of a longer history verifies.
    If ``<last path>.chain`` exists and names the last ``seq``, its hash must match
    the last line too: that catches an edit of the last record.

    Reads each file line by line, so memory stays flat however large the log.
    """
    records = 0
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    last_where = ""

    def result(error: str | None) -> VerifyResult:
        return VerifyResult(
            ok=error is None,
            records=records,
            files=len(paths),
            first_seq=first_seq,
            last_seq=last_seq,
            last_hash=last_hash,
            error=error,
        )

    if not paths:
        return result("no audit files given")
    for path in paths:
        name = str(path)
        try:
            f = open(path, "rb")
        except OSError as e:
            return result(f"{name}: cannot read: {_why(e)}")
        with f:
            lineno = 0
            try:
                for raw in f:
                    lineno += 1
                    where = f"{name}:{lineno}"
                    if not raw.endswith(b"\n"):
                        return result(f"{where}: no trailing newline (truncated last line)")
                    line = raw[:-1]
                    record, why = _parse_line(line)
                    if record is None:
                        return result(f"{where}: {why}")
                    seq = int(record["seq"])
                    if last_seq is not None:
                        if seq != last_seq + 1:
                            return result(
                                f"{where}: seq {seq} does not follow seq {last_seq} "
                                f"({last_where}): a record is missing or out of order"
                            )
                        if record["prev"] != last_hash:
                            return result(
                                f"{where}: prev does not match the hash of the previous "
                                f"line ({last_where}): one of them was altered"
                            )
                    else:
                        first_seq = seq
                    last_seq, last_hash, last_where = seq, _line_hash(line), where
                    records += 1
            except OSError as e:
                return result(f"{name}: cannot read: {_why(e)}")

    # The chain cannot vouch for the last record; the sidecar written with it can.
    # It may be ahead of what was read (a record appended meanwhile): only an equal
    # seq is compared.
    chain = _read_chain_file(chain_path(Path(paths[-1])))
    if chain is not None and last_seq is not None and chain[0] == last_seq:
        if chain[1] != last_hash:
            return result(
                f"{last_where}: last record does not match the hash in its chain "
                f"sidecar {chain_path(Path(paths[-1])).name}: it was modified"
            )
    return result(None)


def _read_chain_file(path: Path) -> tuple[int, str] | None:
    try:
        with open(path, "rb") as f:
            return _parse_chain(f.read(2 * _CHAIN_WIDTH))
    except OSError:
        return None


def summary(result: VerifyResult) -> str:
    """One line for ``gateway audit verify``."""
    if not result.ok:
        return f"FAILED: {result.error}"
    files = f"{result.files} file" + ("" if result.files == 1 else "s")
    if result.records == 0:
        return f"ok: 0 records in {files}"
    records = f"{result.records} record" + ("" if result.records == 1 else "s")
    return (
        f"ok: {records} in {files}, seq {result.first_seq}..{result.last_seq}, "
        f"last hash {result.last_hash}"
    )
