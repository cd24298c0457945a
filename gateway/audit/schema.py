"""What an audit record may hold: every field once, in order, with its rule.

The writer and the verifier share this one table. :class:`AuditEvent` checks
the values the engine hands in against it (a ``TypeError`` where the bad value
is created), the verifier checks every parsed line against it (naming the first
bad field), and the writer serialises the fields in its order. A new field is
one :class:`FieldRule` in :data:`RECORD_FIELDS` plus its attribute on
``AuditEvent``, which carries the static type and default.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "BOOLEAN",
    "EVENT_FIELD_NAMES",
    "FIELDS",
    "FINGERPRINTS",
    "GENESIS_PREV",
    "HASH_RE",
    "INTEGER",
    "NON_EMPTY_STRING",
    "POSITIVE_INTEGER",
    "RECORD_FIELDS",
    "SHA256_HEX",
    "STRING",
    "UTC_MILLIS_TIME",
    "FieldRule",
    "ValueType",
    "check_record",
]

# ``prev`` of the very first record of a chain.
GENESIS_PREV = "0" * 64

HASH_RE = re.compile(r"[0-9a-f]{64}")
# What record.format_time produces.
_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


@dataclass(frozen=True)
class ValueType:
    """What a field's value must be, and how each side names it in its error."""

    accepts: Callable[[object], bool]
    record_name: str  # the verifier says "<field> is not <record_name>"
    event_name: str  # AuditEvent says "AuditEvent.<field> must be <event_name>"
    # A list type checks each item too; AuditEvent then says
    # "AuditEvent.<field> must contain only <item_event_name>".
    item_accepts: Callable[[object], bool] | None = None
    item_event_name: str = ""

    def items_accepted(self, value: object) -> bool:
        if self.item_accepts is None or not isinstance(value, list | tuple):
            return True
        return all(self.item_accepts(item) for item in value)


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _is_non_empty_str(value: object) -> bool:
    return isinstance(value, str) and value != ""


# bool is a subclass of int; JSON true is never a number here.
def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


def _is_utc_millis_time(value: object) -> bool:
    return isinstance(value, str) and _TIME_RE.fullmatch(value) is not None


def _is_sha256_hex(value: object) -> bool:
    return isinstance(value, str) and HASH_RE.fullmatch(value) is not None


def _is_list(value: object) -> bool:
    # A tuple on AuditEvent, a list once parsed; a bare string is refused (it
    # would be iterated character by character).
    return isinstance(value, list | tuple)


STRING = ValueType(_is_str, "a string", "str")
NON_EMPTY_STRING = ValueType(_is_non_empty_str, "a non-empty string", "a non-empty str")
INTEGER = ValueType(_is_int, "an integer", "int")
POSITIVE_INTEGER = ValueType(_is_positive_int, "a positive integer", "a positive int")
BOOLEAN = ValueType(_is_bool, "a boolean", "bool")
UTC_MILLIS_TIME = ValueType(
    _is_utc_millis_time, "RFC 3339 UTC with milliseconds", "RFC 3339 UTC with milliseconds"
)
SHA256_HEX = ValueType(_is_sha256_hex, "a hex SHA-256", "a hex SHA-256")
FINGERPRINTS = ValueType(
    _is_list,
    "a list of strings",
    "a tuple of fingerprint strings",
    item_accepts=_is_str,
    item_event_name="str fingerprints",
)


@dataclass(frozen=True)
class FieldRule:
    """One field of a record: its name, value type and where it may be absent."""

    name: str
    type: ValueType
    nullable: bool = False  # null in the record, None on AuditEvent
    omitted_when_none: bool = False  # None on AuditEvent leaves the key out (never null)
    only_on_event: str | None = None  # present only on records of this event
    set_by_writer: bool = False  # seq, time, prev: not on AuditEvent

    def record_error(self, value: object) -> str | None:
        """Why the verifier refuses ``value`` in this field of a parsed record."""
        if value is None and self.nullable:
            return None
        if self.type.accepts(value) and self.type.items_accepted(value):
            return None
        return f"{self.name} is not {self.type.record_name}" + (" or null" if self.nullable else "")

    def event_error(self, value: object) -> str | None:
        """Why :class:`AuditEvent` refuses ``value`` for this field."""
        may_be_none = self.nullable or self.omitted_when_none
        if value is None and may_be_none:
            return None
        if not self.type.accepts(value):
            or_none = " or None" if may_be_none else ""
            return f"AuditEvent.{self.name} must be {self.type.event_name}{or_none}"
        if not self.type.items_accepted(value):
            return f"AuditEvent.{self.name} must contain only {self.type.item_event_name}"
        return None


# The fields in serialisation order; the verifier insists on exactly this order.
RECORD_FIELDS: tuple[FieldRule, ...] = (
    FieldRule("seq", POSITIVE_INTEGER, set_by_writer=True),
    FieldRule("time", UTC_MILLIS_TIME, set_by_writer=True),
    FieldRule("event", NON_EMPTY_STRING),
    FieldRule("route", STRING, nullable=True),
    FieldRule("reason", STRING, nullable=True),
    FieldRule("outcome", STRING, nullable=True),
    FieldRule("status", INTEGER, nullable=True),
    FieldRule("client", STRING, nullable=True),
    FieldRule("user", STRING, nullable=True),
    FieldRule("credentials", FINGERPRINTS),
    FieldRule("request_id", STRING, nullable=True),
    FieldRule("forwarded", BOOLEAN),
    # SPEC §7.1: how many records a `suppressed` record stands for.
    FieldRule("count", POSITIVE_INTEGER, omitted_when_none=True, only_on_event="suppressed"),
    FieldRule("prev", SHA256_HEX, set_by_writer=True),
)

# The keys every record has, in order (the optional ones left out).
FIELDS: tuple[str, ...] = tuple(r.name for r in RECORD_FIELDS if not r.omitted_when_none)
# The fields AuditEvent carries, in order.
EVENT_FIELD_NAMES: tuple[str, ...] = tuple(r.name for r in RECORD_FIELDS if not r.set_by_writer)
_ALL_NAMES: tuple[str, ...] = tuple(r.name for r in RECORD_FIELDS)


def check_record(obj: object) -> str | None:
    """Why ``obj`` is not a well-formed record (ignoring the chain), or None."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    keys = list(obj)
    missing = [name for name in FIELDS if name not in obj]
    if missing:
        return "missing field(s): " + ", ".join(missing)
    extra = [key for key in keys if key not in _ALL_NAMES]
    if extra:
        return "unexpected field(s): " + ", ".join(extra)
    if keys != [name for name in _ALL_NAMES if name in obj]:
        return "fields are not in the canonical order"
    for rule in RECORD_FIELDS:
        if rule.name not in obj:
            continue  # an omitted_when_none field
        why = rule.record_error(obj[rule.name])
        if why is not None:
            return why
        if rule.only_on_event is not None and obj["event"] != rule.only_on_event:
            return f"{rule.name} is only allowed on {rule.only_on_event} records"
    if obj["seq"] == 1 and obj["prev"] != GENESIS_PREV:
        return "seq 1 must have prev = 64 zeros"
    return None
