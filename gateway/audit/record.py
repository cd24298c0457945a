"""One audit record: the event the engine hands in, and its canonical line.

Every record is one line of canonical, ASCII-only JSON whose ``prev`` field is the
hex SHA-256 of the previous record's line (without its newline), so deleting,
reordering or editing a record breaks the chain. ``seq`` grows by one per record
and continues across restarts and log rotations.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.audit.schema import EVENT_FIELD_NAMES, RECORD_FIELDS, check_record

__all__ = [
    "AuditEvent",
    "canonical_json",
    "format_time",
    "line_hash",
    "parse_record_line",
]


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


# The rules AuditEvent checks: every field but those the writer sets.
_EVENT_RULES = tuple(rule for rule in RECORD_FIELDS if not rule.set_by_writer)


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
        for rule in _EVENT_RULES:
            value = getattr(self, rule.name)
            why = rule.event_error(value)
            if why is not None:
                raise TypeError(why)
            if isinstance(value, list):  # a list field given as a list: keep it immutable
                object.__setattr__(self, rule.name, tuple(value))

    def to_record(self, *, seq: int, time: str, prev: str) -> dict[str, object]:
        """The record in canonical key order, with the writer's ``seq``, ``time``
        and ``prev``."""
        from_writer: dict[str, object] = {"seq": seq, "time": time, "prev": prev}
        record: dict[str, object] = {}
        for rule in RECORD_FIELDS:
            value = from_writer[rule.name] if rule.set_by_writer else getattr(self, rule.name)
            if value is None and rule.omitted_when_none:
                continue
            record[rule.name] = list(value) if isinstance(value, tuple) else value
        return record


# The table declares the fields; AuditEvent's attributes carry their static types
# and defaults. Refuse to load if the two ever disagree.
if tuple(f.name for f in dataclasses.fields(AuditEvent)) != EVENT_FIELD_NAMES:
    raise RuntimeError("AuditEvent's attributes differ from schema.RECORD_FIELDS")


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
