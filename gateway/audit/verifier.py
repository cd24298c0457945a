"""The audit verifier: checks records and their hash chain across rotated files.

``gateway audit verify`` prints :func:`summary` of :func:`verify`'s result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.audit.lines import PROGRESS_EVERY, AuditLineError, read_records
from gateway.audit.record import line_hash
from gateway.audit.sidecar import chain_path, read_sidecar_file

__all__ = ["PROGRESS_EVERY", "VerifyResult", "summary", "verify"]


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    files: int
    first_seq: int | None
    last_seq: int | None
    last_hash: str | None
    error: str | None


def verify(paths: Sequence[Path], progress: Callable[[int], None] | None = None) -> VerifyResult:
    """Check audit files given oldest first; each rotated file chains into the next.

    Every line must be a canonical record with exactly the FIELDS keys, ``seq`` one
    more than the previous record's, and ``prev`` the SHA-256 of the previous line.
    The first record of the first file is trusted as the anchor (its ``prev`` must
    be zeros only when its ``seq`` is 1), so a tail of a longer history verifies.
    If ``<last path>.chain`` exists and names the last ``seq``, its hash must match
    the last line too: that catches an edit of the last record.

    Reads each file line by line, so memory stays flat however large the log.
    `progress`, if given, is told the bytes read so far every PROGRESS_EVERY
    lines and at the end of each file.
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
    try:
        for item in read_records(paths, progress):
            where, record = item.where, item.record
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
            last_seq, last_hash, last_where = seq, line_hash(item.line), where
            records += 1
    except AuditLineError as e:
        return result(str(e))

    # The chain cannot vouch for the last record; the sidecar written with it can.
    # It may be ahead of what was read (a record appended meanwhile): only an equal
    # seq is compared.
    chain = read_sidecar_file(chain_path(Path(paths[-1])))
    if chain is not None and last_seq is not None and chain[0] == last_seq:
        if chain[1] != last_hash:
            return result(
                f"{last_where}: last record does not match the hash in its chain "
                f"sidecar {chain_path(Path(paths[-1])).name}: it was modified"
            )
    return result(None)


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
