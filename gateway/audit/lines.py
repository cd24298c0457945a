"""Reading audit files record by record: what `gateway audit verify` and
`gateway audit summary` share.

Files are read line by line (memory stays flat however large they are); a file
that cannot be read, a truncated last line or a line that is not a record stops
the walk with an `AuditLineError` naming `file:line`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.audit.fileio import os_error_text
from gateway.audit.record import parse_record_line

__all__ = ["PROGRESS_EVERY", "AuditLine", "AuditLineError", "read_records"]

PROGRESS_EVERY = 4096  # lines between two progress reports


class AuditLineError(Exception):
    """A file cannot be read, or a line of it is not a record; the message says where."""


@dataclass(frozen=True, slots=True)
class AuditLine:
    where: str  # "file:line"
    line: bytes  # without its newline (what the chain hashes)
    record: dict[str, Any]


def read_records(
    paths: Sequence[Path], progress: Callable[[int], None] | None = None
) -> Iterator[AuditLine]:
    """Every record of the files, oldest file first. `progress`, if given, is told
    the bytes read so far every PROGRESS_EVERY lines and at the end of each file."""
    bytes_read = 0
    for path in paths:
        name = str(path)
        try:
            f = open(path, "rb")
        except OSError as e:
            raise AuditLineError(f"{name}: cannot read: {os_error_text(e)}") from None
        with f:
            lineno = 0
            try:
                for raw in f:
                    lineno += 1
                    bytes_read += len(raw)
                    if progress is not None and lineno % PROGRESS_EVERY == 0:
                        progress(bytes_read)
                    where = f"{name}:{lineno}"
                    if not raw.endswith(b"\n"):
                        raise AuditLineError(f"{where}: no trailing newline (truncated last line)")
                    line = raw[:-1]
                    record, why = parse_record_line(line)
                    if record is None:
                        raise AuditLineError(f"{where}: {why}")
                    yield AuditLine(where, line, record)
            except OSError as e:
                raise AuditLineError(f"{name}: cannot read: {os_error_text(e)}") from None
        if progress is not None:
            progress(bytes_read)
