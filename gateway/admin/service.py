"""What each admin endpoint answers (SPEC §11), as neutral `Respond` values, so
the logic is tested without a server and `server.py` stays a thin router.

`POST /-/revoke` is audited like a logout route (SPEC §7.1: every answer is):
a missing or wrong admin token, a malformed body, a wrong method → `401`/`400`/
`405`/`413`/`415` and an `invalid_request` record (route `admin`, flood-limited
per client like every credential-less record); a revocation → a `logout`
record (route and reason `admin`). Raw values from the body are never logged.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from gateway import responses
from gateway.admin.audit_tail import AuditFollower
from gateway.admin.health import readiness_problems
from gateway.admin.prometheus import CONTENT_TYPE, make_registry, render
from gateway.admin.revoke import (
    ADMIN,
    Revoker,
    RevokeRequestError,
    parse_revoke_body,
    revoke_audit_event,
)
from gateway.admin.status import snapshot
from gateway.admin.status_page import live, page
from gateway.audit import AuditError, AuditEvent, AuditWriter
from gateway.config import Config
from gateway.credentials import bearer_tokens
from gateway.http import NO_STORE, Respond, json_response
from gateway.metrics import Metrics
from gateway.store import Store, StoreError

log = logging.getLogger("gateway")

LIVE_REVOCATIONS_EVERY = 5.0  # seconds: a store count at most this often
LIVE_REVOCATIONS_TIMEOUT = 2.0
REALM = 'Bearer realm="logout-gateway admin"'
STATUS_PAGE_CSP = (
    "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
    "connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
HTML_HEADERS = (
    ("content-type", "text/html; charset=utf-8"),
    *NO_STORE,
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
)


class AdminService:
    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        audit: AuditWriter,
        audit_path: Path,
        metrics: Metrics,
        revoker: Revoker,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.audit = audit
        self.audit_path = audit_path
        self.metrics = metrics
        self.revoker = revoker
        self.clock = clock
        self.follower = AuditFollower(audit_path)
        self.registry = make_registry(metrics)
        self._counted_at = float("-inf")
        self._count_lock = asyncio.Lock()

    # -- health and metrics --------------------------------------------------

    async def live(self) -> Respond:
        return json_response(200, {"status": "live"})

    async def ready(self) -> Respond:
        problems = await readiness_problems(self.store, self.audit_path, self.metrics, self.clock)
        if problems:
            return json_response(503, {"status": "not_ready", "problems": problems})
        return json_response(200, {"status": "ready"})

    async def refresh_live_revocations(self) -> None:
        """The gauge's value from the store, counted at most every few seconds
        (scrapes and page refreshes from many clients share one count)."""
        async with self._count_lock:
            now = self.clock()
            if now - self._counted_at < LIVE_REVOCATIONS_EVERY:
                return
            self._counted_at = now  # also after a failure: never hammer a failing store
            try:
                async with asyncio.timeout(LIVE_REVOCATIONS_TIMEOUT):
                    self.metrics.live_revocations = await self.store.count_revoked(now)
            except (StoreError, TimeoutError) as exc:
                log.warning("admin: cannot count live revocations: %s", exc or "timeout")
                self.metrics.live_revocations = None

    async def prometheus(self) -> Respond:
        await self.refresh_live_revocations()
        return Respond(200, (("content-type", CONTENT_TYPE), *NO_STORE), render(self.registry))

    # -- the status page -----------------------------------------------------

    async def _status(self) -> dict[str, object]:
        await self.refresh_live_revocations()
        await asyncio.to_thread(self.follower.refresh)
        return snapshot(self.config, self.metrics, self.follower, self.clock())

    async def status_json(self) -> Respond:
        return json_response(200, await self._status())

    async def status_page(self) -> Respond:
        nonce = secrets.token_urlsafe(16)
        html = page(await self._status(), nonce)
        csp = ("content-security-policy", STATUS_PAGE_CSP.format(nonce=nonce))
        return Respond(200, (*HTML_HEADERS, csp), html.encode())

    async def status_fragment(self) -> Respond:
        html = live(await self._status())
        return Respond(200, HTML_HEADERS, html.encode())

    def not_found(self) -> Respond:
        # The admin port never proxies: anything else is simply not here.
        return json_response(404, {"error": "not_found"})

    # -- POST /-/revoke ------------------------------------------------------

    async def revoke(
        self,
        *,
        method: str,
        authorization: Sequence[str],
        content_encoding: str | None,
        body: bytes,
        client: str | None,
    ) -> Respond:
        request_id = "admin-" + secrets.token_hex(8)

        async def refuse(answer: Respond, why: str) -> Respond:
            return await self._invalid(answer, why, client, request_id)

        if method != "POST":
            answer = json_response(405, {"error": "method_not_allowed"}, (("allow", "POST"),))
            return await refuse(answer, f"method {method[:16]} not allowed")
        token = self.config.admin.token
        if token is None:
            answer = json_response(
                404, {"error": "not_found", "reason": "POST /-/revoke needs admin.token_file"}
            )
            return await refuse(answer, "revoke disabled: admin.token_file is not set")
        given = bearer_tokens(authorization)
        if not given:
            return await refuse(self._unauthorized(), "missing admin token")
        # Constant time: a wrong token says nothing about how close it was.
        if len(given) != 1 or not hmac.compare_digest(
            given[0].encode("utf-8", "replace"), token.encode()
        ):
            return await refuse(self._unauthorized(), "wrong admin token")
        if content_encoding:
            answer = json_response(415, {"error": "unsupported_encoding"})
            return await refuse(answer, "body has a Content-Encoding")
        if len(body) > self.config.limits.max_body_bytes:
            answer = json_response(413, {"error": "body_too_large"})
            return await refuse(answer, "body over limits.max_body_bytes")
        try:
            target = parse_revoke_body(body)
        except RevokeRequestError as exc:
            return await refuse(
                json_response(400, {"error": "bad_request", "reason": str(exc)}), str(exc)
            )

        user = target.value if target.kind == "user" else None
        try:
            result = await self.revoker.revoke(target)
        except StoreError as exc:
            log.error("admin revoke could not revoke (store failing), answered 503: %s", exc)
            answer = responses.store_unavailable()
            ev = revoke_audit_event(
                None, status=answer.status, client=client, request_id=request_id, user=user
            )
            await self._audit_quietly(ev)
            return answer
        answer = json_response(200, result.answer())
        ev = revoke_audit_event(result, status=200, client=client, request_id=request_id)
        if not await self._audit_quietly(ev):
            return responses.audit_unavailable()  # revoked all the same (the safe direction)
        log.info(
            "admin revoke by %s: invalidated=%d previously_invalidated=%d client=%s",
            target.kind,
            result.invalidated,
            result.previously_invalidated,
            client,
        )
        return answer

    def _unauthorized(self) -> Respond:
        return json_response(401, {"error": "unauthorized"}, (("www-authenticate", REALM),))

    async def _invalid(
        self, answer: Respond, why: str, client: str | None, request_id: str
    ) -> Respond:
        ev = AuditEvent(
            event="invalid_request",
            route=ADMIN,
            reason=why[:200],
            outcome="rejected",
            status=answer.status,
            client=client,
            request_id=request_id,
        )
        return answer if await self._audit_quietly(ev) else responses.audit_unavailable()

    async def _audit_quietly(self, ev: AuditEvent) -> bool:
        try:
            await self.audit.write(ev)
        except AuditError as exc:
            log.error("audit write failed: %s", exc)
            return False
        return True
