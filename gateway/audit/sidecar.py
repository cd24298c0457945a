"""The chain sidecar ``<path>.chain``: ``seq`` and hash of the last record.

It lets a restart after a rotation (the configured path is now a new, empty
file) continue the chain, and it lets the verifier detect an edit of the very
last record, which the chain alone cannot.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

from gateway.audit.record import canonical_json
from gateway.audit.schema import HASH_RE

__all__ = [
    "chain_path",
    "parse_sidecar",
    "read_sidecar",
    "read_sidecar_file",
    "write_sidecar",
]

# The sidecar is rewritten in place (pwrite at offset 0) with a fixed width, so a
# shorter new value never leaves a tail of the old one behind. 128 bytes fit the
# largest 64-bit seq plus the hash, and stay within one disk sector.
_WIDTH = 128
_READ_LIMIT = 2 * _WIDTH


def chain_path(path: Path) -> Path:
    """Where the chain sidecar of the audit file ``path`` lives."""
    return path.with_name(path.name + ".chain")


def parse_sidecar(data: bytes) -> tuple[int, str] | None:
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
    if not isinstance(h, str) or not HASH_RE.fullmatch(h):
        return None
    return seq, h


def _encode(seq: int, h: str) -> bytes:
    body = canonical_json({"seq": seq, "hash": h}).encode("ascii")
    return body.ljust(_WIDTH - 1) + b"\n"


def read_sidecar(fd: int) -> bytes:
    """The raw content of an open sidecar (parse it with :func:`parse_sidecar`)."""
    return os.pread(fd, _READ_LIMIT, 0)


def write_sidecar(fd: int, seq: int, h: str) -> None:
    """Overwrite an open sidecar with (seq, hash); not synced. Raises OSError."""
    data = _encode(seq, h)
    if os.pwrite(fd, data, 0) != len(data):
        raise OSError(errno.EIO, "short write to the chain sidecar")


def read_sidecar_file(path: Path) -> tuple[int, str] | None:
    """(seq, hash) from the sidecar at ``path``; None when unreadable or invalid."""
    try:
        with open(path, "rb") as f:
            return parse_sidecar(f.read(_READ_LIMIT))
    except OSError:
        return None
