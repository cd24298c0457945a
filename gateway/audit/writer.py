"""The audit writer: appends hash-chained records durably, one process per file.

Every failure surfaces as :class:`AuditError`, a failed record never advances
the chain, and a partially written line is cut off again before the next record
is appended. The chain sidecar (``<path>.chain``) carries the chain's end over
a rotation; the lock file (``<path>.lock``) keeps a second writer out.
"""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Protocol

from gateway.audit.errors import AuditCorrupt, AuditError
from gateway.audit.fileio import (
    file_ident,
    fsync_dir,
    fsync_file,
    os_error_text,
    read_last_line,
    write_all,
)
from gateway.audit.lockfile import take_lock
from gateway.audit.record import (
    AuditEvent,
    canonical_json,
    format_time,
    line_hash,
    parse_record_line,
)
from gateway.audit.schema import GENESIS_PREV
from gateway.audit.sidecar import chain_path, parse_sidecar, read_sidecar, write_sidecar

__all__ = ["AuditLog", "AuditWriter"]


class AuditWriter(Protocol):
    """What the engine writes audit events to: `AuditLog`, or an in-memory
    collector (`gateway replay`)."""

    async def write(self, ev: AuditEvent) -> dict[str, object]: ...


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
                raise AuditError(f"cannot open audit log {self._path}: {os_error_text(e)}") from e
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
                raise AuditError(f"cannot write audit log {self._path}: {os_error_text(e)}") from e
            assert self._fd is not None
            seq = self._seq + 1
            record = ev.to_record(seq=seq, time=format_time(self._clock()), prev=self._hash)
            line = canonical_json(record).encode("ascii")
            h = line_hash(line)
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
        self._lock_fd = take_lock(self._path)

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
            fsync_dir(self._path.parent)

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
            line = read_last_line(self._fd, size)
        except AuditCorrupt as e:
            raise AuditCorrupt(
                f"{self._path}: last line {e}; inspect it (`gateway audit verify`) and "
                "remove the partial line to continue the chain"
            ) from None
        record, why = parse_record_line(line)
        if record is None:
            raise AuditCorrupt(f"{self._path}: last line is not a valid record: {why}")
        seq, h = int(record["seq"]), line_hash(line)
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
        return read_sidecar(self._chain_fd)

    def _read_chain(self) -> tuple[int, str] | None:
        return parse_sidecar(self._read_chain_raw())

    def _write_chain(self, seq: int, h: str, *, sync: bool = True) -> None:
        """Record the chain's end in the sidecar. Per record it is not fsynced:
        the main file (fsynced) is authoritative whenever it is non-empty, and
        the sidecar only carries the chain over into an empty new file, so it is
        synced where that can happen: at open, reopen/rotation and close."""
        assert self._chain_fd is not None
        write_sidecar(self._chain_fd, seq, h)
        if self._fsync and sync:
            os.fsync(self._chain_fd)

    def _reopen_fds(self) -> None:
        try:
            self._open_fds()
        except OSError as e:
            self._close_fds(raise_errors=False)
            raise AuditError(f"cannot reopen audit log {self._path}: {os_error_text(e)}") from e
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
                raise AuditError(
                    f"cannot write chain sidecar {self._chain_path}: {os_error_text(e)}"
                ) from e
        # A device may have been replaced by a regular file (or the reverse) since
        # the last open: any truncation still pending referred to the old file.
        self._pending_truncate = None

    def _prepare(self) -> None:
        """Before a write: reopen after a rotation (or an earlier failed reopen) and
        cut off a partial line left by an earlier failure. Raises OSError."""
        if self._fd is None:
            self._reopen_fds()
        elif self._regular and (
            file_ident(self._path) != self._ident
            or file_ident(self._chain_path) != self._chain_ident
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
            write_all(fd, data)
            if self._fsync:
                fsync_file(fd, self._regular)
            if self._regular:
                chain_touched = True
                self._write_chain(seq, h, sync=False)
        except OSError as e:
            self._rollback(start, chain_touched)
            raise AuditError(f"cannot write audit log {self._path}: {os_error_text(e)}") from e

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
            raise AuditError(
                f"cannot close audit log {self._path}: {os_error_text(first)}"
            ) from first
