"""One writer per audit file: the exclusive lock file ``<path>.lock`` (SPEC §7.1)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from gateway.audit.errors import AuditInUse

__all__ = ["lock_path", "take_lock"]


def lock_path(path: Path) -> Path:
    """The lock file of the audit file ``path``. A file of its own (not the log,
    not the sidecar) so that logrotate's rename never moves the lock away."""
    return path.with_name(path.name + ".lock")


def take_lock(log_path: Path) -> int:
    """Exclusive, non-blocking flock on the lock file for this process's life
    (SPEC §7.1), with our pid inside for the message the next one prints.
    Returns the descriptor (closing it releases the lock). Raises AuditInUse,
    or OSError."""
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
