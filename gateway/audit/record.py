"""One audit record: its fields, the event the engine hands in, its canonical line.

Every record is one line of canonical, ASCII-only JSON whose ``prev`` field is the
hex SHA-256 of the previous record's line (without its newline), so deleting,
reordering or editing a record breaks the chain. ``seq`` grows by one per record
and continues across restarts and log rotations.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "FIELDS",
    "GENESIS_PREV",
    "HASH_RE",
    "AuditEvent",
    "canonical_json",
    "check_record",
    "format_time",
    "line_hash",
    "parse_record_line",
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

HASH_RE = re.compile(r"[0-9a-f]{64}")
_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_OPTIONAL_STR_FIELDS = ("route", "reason", "outcome", "client", "user", "request_id")


def canonical_json(obj: object) -> str:
    # ensure_ascii escapes every non-ASCII character (including U+2028/U+2029) and
    # json escapes every control character (newline, ESC, ...), so one record is
    # always exactly one line, and the hashed bytes are plain ASCII.
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"))


def line_hash(line: bytes) -> str:
    """The hash chained into the next record's ``prev``: of the line without its newline."""
    return hashlib.sha256(line).hexdigest()


def format_time(t: float) -> str:
    # Floor to whole milliseconds so the stamp never lies about being later than
    # the clock reading (rounding could roll over into the next second).
    total_ms = math.floor(t * 1000)
    secs, ms = divmod(total_ms, 1000)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}Z"


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

    def to_record(self, *, seq: int, time: str, prev: str) -> dict[str, object]:
        """The record in canonical key order, with the writer's ``seq``, ``time``
        and ``prev``."""
        record: dict[str, object] = {
            "seq": seq,
            "time": time,
            "event": self.event,
            "route": self.route,
            "reason": self.reason,
            "outcome": self.outcome,
            "status": self.status,
            "client": self.client,
            "user": self.user,
            "credentials": list(self.credentials),
            "request_id": self.request_id,
            "forwarded": self.forwarded,
        }
        if self.count is not None:
            record["count"] = self.count
        record["prev"] = prev
        return record


def check_record(obj: object) -> str | None:
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
    if not isinstance(prev, str) or not HASH_RE.fullmatch(prev):
        return "prev is not a hex SHA-256"
    if seq == 1 and prev != GENESIS_PREV:
        return "seq 1 must have prev = 64 zeros"
    return None


def parse_record_line(line: bytes) -> tuple[dict[str, Any] | None, str | None]:
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
    why = check_record(obj)
    if why is not None:
        return None, why
    # The writer only ever produces the canonical form; anything else (extra
    # whitespace, duplicate keys, different escaping) was written by someone else.
    if canonical_json(obj) != text:
        return None, "not in canonical form (the writer never produces this line)"
    return obj, None
