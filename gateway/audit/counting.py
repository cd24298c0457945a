"""Counting what is audited, for `/metrics` (SPEC §11): an AuditWriter in front
of another.

The engine and the logout routes audit every logout and every use of a
revoked credential, so counting them where they are audited counts each once,
whichever route (present or future) wrote them. It sits in front of the flood
limiter: a credential-less logout the limiter does not write is still a logout
that happened. A write that fails is counted as an audit failure and re-raised
unchanged (the caller answers 503 `audit_unavailable`).
"""

from __future__ import annotations

from gateway.audit.errors import AuditError
from gateway.audit.record import AuditEvent
from gateway.audit.writer import AuditWriter
from gateway.metrics import Metrics

__all__ = ["CountingAudit"]


class CountingAudit:
    def __init__(self, inner: AuditWriter, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    async def write(self, ev: AuditEvent) -> dict[str, object]:
        # Counted before the write: the logout happened (and revoked) even if
        # its record could not be written.
        self.metrics.count_audit_event(ev.event, ev.route, ev.reason, ev.outcome)
        try:
            record = await self.inner.write(ev)
        except AuditError as exc:
            self.metrics.audit_failed(str(exc))
            raise
        if not record.get("suppressed"):  # the flood limiter wrote nothing
            self.metrics.audit_written()
        return record
