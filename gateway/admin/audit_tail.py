"""Following the audit file for the status page: the last records, and logouts
per hour by reason.

The audit file is the record of what happened, also before this process
started, so the page reads it rather than counting in memory: on the first
refresh the last `INITIAL_TAIL_BYTES` of the file, then only what was appended
since. Lines are parsed with the audit package's own record parser (a line it
refuses is skipped, never shown). A rotation (a new file at the path) or a
truncation starts over at the new file's beginning. Reading runs in a worker
thread; the snapshot is taken under a lock.

A view, not the record: records written between a refresh and a rotation are
not shown; `gateway audit summary` over the rotated files counts them all.
Audit records hold fingerprints, never raw credentials.
"""

from __future__ import annotations

import os
import stat
import threading
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.audit.record import parse_record_line

INITIAL_TAIL_BYTES = 4 << 20  # history shown after a restart
MAX_READ_BYTES = 16 << 20  # further behind than this: skip to the tail
RECENT = 50
HOURS = 24
# The chart's series (SPEC §11); any other logout reason is "other".
CHART_REASONS = ("manual", "timeout", "backchannel", "idp", "admin", "api")
OTHER = "other"
SHOWN_FIELDS = (
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
    "forwarded",
    "count",
)


def hour_key(moment: datetime) -> str:
    """`YYYY-MM-DDTHH`: the prefix of a record's `time` in that UTC hour."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


class AuditFollower:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._ident: tuple[int, int] | None = None
        self._offset = 0
        self._partial = b""
        self._skip_partial_line = False
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self._hourly: dict[str, dict[str, int]] = {}  # hour key → reason → logouts
        self.skipped_lines = 0

    # -- reading (worker thread) ----------------------------------------------

    def refresh(self) -> None:
        """Read what was appended since the last call. Never raises for a
        missing or unreadable file (the page shows what it has)."""
        with self._lock:
            try:
                self._refresh()
            except OSError:
                pass

    def _refresh(self) -> None:
        st = os.stat(self.path)
        if not stat.S_ISREG(st.st_mode):
            return
        ident = (st.st_dev, st.st_ino)
        if ident != self._ident:
            first = self._ident is None
            self._ident, self._partial = ident, b""
            self._offset = max(0, st.st_size - INITIAL_TAIL_BYTES) if first else 0
            self._skip_partial_line = self._offset > 0
        elif st.st_size < self._offset:  # truncated in place (copytruncate)
            self._offset, self._partial, self._skip_partial_line = 0, b"", False
        if st.st_size - self._offset > MAX_READ_BYTES:
            self._offset = st.st_size - INITIAL_TAIL_BYTES
            self._partial, self._skip_partial_line = b"", True
        if st.st_size == self._offset:
            return
        with open(self.path, "rb") as f:
            opened = os.fstat(f.fileno())
            if (opened.st_dev, opened.st_ino) != ident:
                return  # renamed between stat and open: the next refresh starts over
            f.seek(self._offset)
            data = f.read(st.st_size - self._offset)
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()  # "" after a complete last line
        if self._skip_partial_line and lines:
            lines.pop(0)  # started mid-file: the first piece is the end of a line
            self._skip_partial_line = False
        for line in lines:
            self._take(line)

    def _take(self, line: bytes) -> None:
        record, _ = parse_record_line(line)
        if record is None:
            self.skipped_lines += 1
            return
        self._recent.append({k: record[k] for k in SHOWN_FIELDS if k in record})
        if record["event"] == "logout":
            reason = record["reason"] if record["reason"] in CHART_REASONS else OTHER
            hour = self._hourly.setdefault(str(record["time"])[:13], {})
            hour[reason] = hour.get(reason, 0) + 1

    # -- the snapshot (event loop) -------------------------------------------

    def recent(self) -> list[dict[str, Any]]:
        """The last records, newest first."""
        with self._lock:
            return list(reversed(self._recent))

    def logouts_per_hour(self, now: float) -> dict[str, Any]:
        """The last HOURS hours up to `now`: hour labels and one series per reason."""
        end = datetime.fromtimestamp(now, UTC).replace(minute=0, second=0, microsecond=0)
        hours = [end - timedelta(hours=HOURS - 1 - i) for i in range(HOURS)]
        keys = [hour_key(h) for h in hours]
        with self._lock:
            for stale in [k for k in self._hourly if k < keys[0]]:
                del self._hourly[stale]
            rows = [dict(self._hourly.get(k, {})) for k in keys]
        reasons = (*CHART_REASONS, OTHER)
        return {
            "hours": [h.strftime("%Y-%m-%dT%H:00Z") for h in hours],
            "series": {r: [row.get(r, 0) for row in rows] for r in reasons},
            "totals": {r: sum(row.get(r, 0) for row in rows) for r in reasons},
        }
