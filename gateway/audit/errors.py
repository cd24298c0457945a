"""The audit log's exceptions: every failure to open, write or sync it."""

from __future__ import annotations

__all__ = ["AuditCorrupt", "AuditError", "AuditInUse"]


class AuditError(Exception):
    """The audit log could not be opened, written or synced.

    Always raised, never swallowed: the caller answers 503 ``audit_unavailable``.
    """


class AuditInUse(AuditError):
    """At open: another process (a second gateway, or `mitmdump -s` with the
    same config) holds the audit file; two writers would break the chain."""


class AuditCorrupt(AuditError):
    """At open: the existing log does not end with a valid record (or disagrees
    with its chain sidecar), so the chain cannot be continued safely."""
