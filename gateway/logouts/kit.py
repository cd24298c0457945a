"""What every logout route shares: revoke, audit, and the answers for the two
faults (store failing, audit failing).

The order inside every logout is fixed (SPEC §6): read what the answer needs →
revoke locally → write the audit record → answer or forward. A failure to
revoke is never reported as a done logout (503); a failure to audit still
revokes (the safe direction) but answers 503.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway import responses
from gateway.audit import AuditError, AuditEvent, AuditWriter
from gateway.config import Config
from gateway.credentials import SESSION, Credential, CredentialReader
from gateway.http import Request, Respond
from gateway.store import LogoutRequestRecord, NotReplicated, Revocation, Store, StoreError

log = logging.getLogger("gateway")


@dataclass(frozen=True, slots=True)
class LogoutResult:
    """What one logout did, for the audit record."""

    outcome: str
    fingerprints: tuple[str, ...]


class LogoutKit:
    """The collaborators a logout route needs, and the steps they share. Route
    handlers get this kit (and nothing else of the engine)."""

    def __init__(
        self,
        config: Config,
        store: Store,
        audit: AuditWriter,
        credentials: CredentialReader,
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.store = store
        self.audit = audit
        self.credentials = credentials
        self.clock = clock
        self.cookie_names = credentials.cookie_names

    def mode(self, route: str) -> str:
        """The configured mode of an enabled route: short_circuit | forward."""
        rc = self.config.routes.by_name()[route]
        assert rc is not None, route  # only enabled routes are dispatched
        return rc.mode

    def revocation_expiry(self, cred: Credential, now: float) -> float:
        """A revocation lives until the credential would have expired anyway:
        a JWT's `exp` (plus the clock skew), else the configured lifetime."""
        if cred.expires_at is not None:
            return max(cred.expires_at + self.config.saml.clock_skew, now + 60.0)
        if cred.kind == SESSION:
            return now + self.config.sessions.max_lifetime
        return now + self.config.tokens.max_lifetime

    async def revoke(
        self,
        creds: Sequence[Credential],
        *,
        logout_request: LogoutRequestRecord | None = None,
        revoked_before: frozenset[str] | None = None,
    ) -> LogoutResult:
        """Revoke every credential (and record an issued LogoutRequest ID in the
        same write); raises StoreError (→ 503, logout not done). `revoked_before`:
        the caller already looked up which were revoked."""
        fps = tuple(dict.fromkeys(c.fingerprint for c in creds))
        if not creds:
            return LogoutResult("no_session", fps)
        now = self.clock()
        already = (
            revoked_before
            if revoked_before is not None
            else await self.store.revoked(list(fps), now)
        )
        await self.store.revoke(
            [Revocation(c.fingerprint, c.kind, self.revocation_expiry(c, now)) for c in creds],
            logout_request=logout_request,
        )
        outcome = "already_revoked" if len(already) == len(fps) else "success"
        return LogoutResult(outcome, fps)

    async def audit_logout(
        self,
        req: Request,
        route: str,
        reason: str,
        done: LogoutResult,
        status: int | None,
        user: str | None = None,
    ) -> bool:
        """The logout's audit record; False when it could not be written (the
        caller answers 503 `audit_unavailable`; the revocation stands)."""
        try:
            await self.audit.write(
                AuditEvent(
                    event="logout",
                    route=route,
                    reason=reason,
                    outcome=done.outcome,
                    status=status,
                    client=req.client,
                    user=user,
                    credentials=done.fingerprints,
                    request_id=req.request_id,
                    forwarded=status is None,
                )
            )
        except AuditError as exc:
            log.error("audit write failed; logout revoked but answered 503: %s", exc)
            return False
        log.info(
            "logout route=%s reason=%s outcome=%s status=%s credentials=%s",
            route,
            reason,
            done.outcome,
            status if status is not None else "forwarded",
            ",".join(done.fingerprints) or "-",
        )
        return True

    async def audit_quietly(self, ev: AuditEvent) -> bool:
        try:
            await self.audit.write(ev)
        except AuditError as exc:
            log.error("audit write failed: %s", exc)
            return False
        return True

    async def invalid_request(
        self, req: Request, route: str, answer: Respond, reason: str
    ) -> Respond:
        """Refuse a malformed call on a logout route: audited (SPEC §7.1: every
        answer on a logout route is), nothing revoked."""
        ok = await self.audit_quietly(
            AuditEvent(
                event="invalid_request",
                route=route,
                reason=reason[:200],
                outcome="rejected",
                status=answer.status,
                client=req.client,
                request_id=req.request_id,
            )
        )
        return answer if ok else responses.audit_unavailable()

    async def store_failed_logout(
        self, req: Request, route: str, reason: str, exc: StoreError
    ) -> Respond:
        # A write on the primary that too few replicas acknowledged (SPEC §12) is
        # its own outcome: the store answers, yet the logout is not done.
        outcome = "not_replicated" if isinstance(exc, NotReplicated) else "error"
        log.error("logout could not revoke (%s), answered 503: %s", outcome, exc)
        answer = responses.store_unavailable()
        await self.audit_quietly(
            AuditEvent(
                event="logout",
                route=route,
                reason=reason,
                outcome=outcome,
                status=answer.status,
                client=req.client,
                request_id=req.request_id,
            )
        )
        return answer
