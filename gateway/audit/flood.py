"""Flood control for the audit log (SPEC §7.1).

Some records can be caused by anyone, without holding a credential: a logout
that carries none (`outcome: "no_session"`) and an `invalid_request`. Each is
an fsync'd line, so without a limit a client could fill the disk and the
reviewer's day. Per client IP and minute the first `per_client_per_minute` of
them are written; the rest are counted, and one `event: "suppressed"` record
per client and minute carries the `count`. Every other record — and so every
logout that revokes anything — is written as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.audit.record import AuditEvent
from gateway.audit.writer import AuditWriter

# Distinct clients tracked per minute; beyond it they share one bucket, so an
# attacker rotating addresses cannot grow this map without bound.
MAX_CLIENTS_PER_MINUTE = 65_536
OVERFLOW_CLIENT = "*"


def credential_free(ev: AuditEvent) -> bool:
    """Records anyone can cause without holding a credential."""
    if ev.event == "invalid_request":
        return True
    if ev.event == "logout" and ev.outcome == "unknown_ticket":
        # A CAS single logout naming a ticket nobody learned revokes nothing, and
        # a front-channel one can come from anyone (SPEC §10.1).
        return True
    return ev.event == "logout" and not ev.credentials and ev.outcome == "no_session"


class FloodLimitedAudit:
    """An AuditWriter in front of another: writes what the limit allows."""

    def __init__(
        self,
        inner: AuditWriter,
        per_client_per_minute: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inner = inner
        self.limit = per_client_per_minute
        self.clock = clock
        self._minute = -1  # unix time // 60 of the counts below
        self._written: dict[str, int] = {}
        self._suppressed: dict[str, int] = {}
        # Counts of ended minutes whose `suppressed` record is not written yet
        # (the audit file failed): tried again before the next record.
        self._pending: dict[str, int] = {}
        self.suppressed_total = 0  # for metrics and tests

    async def write(self, ev: AuditEvent) -> dict[str, object]:
        self._roll(int(self.clock() // 60))
        if self._pending:
            await self.flush_pending()
        if not credential_free(ev):
            return await self.inner.write(ev)
        client = ev.client or "-"
        if client not in self._written and len(self._written) >= MAX_CLIENTS_PER_MINUTE:
            client = OVERFLOW_CLIENT
        written = self._written.get(client, 0)
        if written < self.limit:
            self._written[client] = written + 1
            return await self.inner.write(ev)
        self._suppressed[client] = self._suppressed.get(client, 0) + 1
        self.suppressed_total += 1
        return {"event": ev.event, "suppressed": True}

    def _roll(self, minute: int) -> None:
        if minute == self._minute:
            return
        for client, count in self._suppressed.items():
            self._pending[client] = self._pending.get(client, 0) + count
        self._minute, self._written, self._suppressed = minute, {}, {}

    async def flush_pending(self) -> None:
        """One `suppressed` record per client for the minutes that ended."""
        while self._pending:
            client, count = next(iter(self._pending.items()))
            await self.inner.write(
                AuditEvent(
                    event="suppressed",
                    reason="per_client_per_minute",
                    client=None if client in ("-", OVERFLOW_CLIENT) else client,
                    count=count,
                )
            )
            del self._pending[client]  # only once written: a failure retries it

    async def tick(self) -> None:
        """Periodically (and at shutdown, with `final`): close the minute even
        when no later record comes to do it."""
        self._roll(int(self.clock() // 60))
        if self._pending:
            await self.flush_pending()

    async def close(self) -> None:
        self._roll(-2)  # ends the current minute too
        await self.flush_pending()
