"""The caller's own credentials on a logout that is forwarded but does not log them
out (SPEC §5: no request carrying a revoked credential passes the gateway).

A logout route forwards requests whose headers carry the caller's credentials:
Kibana's own bearer token on `oidc/logout`, an admin's on the invalidate-token
API. A logout of *those* credentials is idempotent (answered as a logout, never
401); but a revoked credential that is not part of the logout must not ride a
forwarded logout to the upstream — with `DELETE /_security/oauth2/token
{"username": …}` it would even carry the authority for the invalidation.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from gateway import responses
from gateway.audit import AuditError, AuditEvent
from gateway.credentials import SESSION
from gateway.http import Request, Respond
from gateway.logouts.kit import LogoutKit

log = logging.getLogger("gateway")


async def refuse_revoked_carrier(
    kit: LogoutKit, req: Request, route: str, logged_out: Collection[str] = ()
) -> Respond | None:
    """The 401 for a request that carries a revoked credential other than those it
    logs out (`logged_out`: fingerprints), or None. Raises StoreError."""
    creds = [c for c in kit.credentials.read(req) if c.fingerprint not in logged_out]
    if not creds:
        return None
    revoked = await kit.store.revoked([c.fingerprint for c in creds], kit.clock())
    bad = [c for c in creds if c.fingerprint in revoked]
    if not bad:
        return None
    answer = responses.credential_revoked(
        [c.name for c in bad if c.kind == SESSION], bearer=any(c.name == "bearer" for c in bad)
    )
    log.info("refused revoked_credential_use route=%s client=%s", route, req.client)
    try:
        await kit.audit.write(
            AuditEvent(
                event="revoked_credential_use",
                route=route,
                outcome="rejected",
                status=answer.status,
                client=req.client,
                credentials=tuple(c.fingerprint for c in bad),
                request_id=req.request_id,
            )
        )
    except AuditError as exc:
        log.error("audit write failed for a refused request: %s", exc)  # refusing is safe
    return answer
