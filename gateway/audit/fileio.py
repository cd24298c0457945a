"""Raw file-descriptor helpers for the writer: full writes, fsync, the last line.

Raw descriptors rather than ``logging`` or buffered files: Python's logging
swallows write errors (disk full, permissions) and buffered files hide short
writes; here every failure surfaces as an OSError the writer turns into
AuditError.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from gateway.audit.errors import AuditCorrupt

__all__ = [
    "file_ident",
    "fsync_dir",
    "fsync_file",
    "os_error_text",
    "read_last_line",
    "write_all",
]

_TAIL_CHUNK = 8192


def os_error_text(e: OSError) -> str:
    """The short reason of an OSError, for AuditError messages."""
    return e.strerror or str(e)


def write_all(fd: int, data: bytes) -> None:
    # os.write may write less than asked (e.g. just before ENOSPC); loop until all
    # of it is written or the kernel reports the error.
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:  # pragma: no cover - a regular file never returns 0 for n > 0
            raise OSError(errno.EIO, "short write")
        view = view[n:]


def fsync_file(fd: int, regular: bool) -> None:
    try:
        os.fsync(fd)
    except OSError as e:
        # A pipe, tty or /dev/null (audit to stdout, or deliberately discarded) has
        # nothing to sync and answers EINVAL; on a regular file every error counts.
        if regular or e.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as e:
        # Some filesystems cannot sync a directory; that is not a failed write.
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def file_ident(path: Path) -> tuple[int, int] | None:
    """(device, inode) of ``path``, None when it does not exist: a changed ident
    means the file was renamed (logrotate) or deleted under us."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def read_last_line(fd: int, size: int) -> bytes:
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
