"""Request → Decision: enforcement, learning and the logout routes.

The order inside every logout is fixed (SPEC §6): read what the answer needs →
revoke locally → write the audit record → answer or forward. A failure to
revoke is never reported as a done logout; a failure to audit still revokes
(the safe direction) but answers 503.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from gateway import cas, query, responses
from gateway.audit import AuditError, AuditEvent, AuditWriter
from gateway.config import Config
from gateway.cookies import session_cookies_set
from gateway.credentials import (
    SESSION,
    TICKET,
    Credential,
    CredentialReader,
    Fingerprinter,
    bearer_tokens,
)
from gateway.http import FORWARD, Decision, Forward, Request, Respond, Response
from gateway.jwt_tokens import InvalidJWT, JWTVerifier, looks_like_jwt
from gateway.routes import CAS_LOGOUT, LOGOUT_ACTION, SAML_LOGOUT, RouteTable, normalise_path
from gateway.saml.redirect_binding import Signer
from gateway.saml_logout import SamlLogout
from gateway.store import Revocation, SessionRecord, Store, StoreError
from gateway.store.base import LogoutRequestRecord
from gateway.token_learning import (
    AUTHENTICATE_PATH,
    LEARNING_FORWARD,
    TOKEN_PATH,
    TokenLearning,
)

log = logging.getLogger("gateway")

IDLE_TIMEOUT = "idle_timeout"


@dataclass(frozen=True, slots=True)
class LogoutResult:
    """What one logout did, for the audit record."""

    outcome: str
    fingerprints: tuple[str, ...]


class Gateway:
    def __init__(
        self,
        config: Config,
        store: Store,
        audit: AuditWriter,
        fingerprint: Fingerprinter,
        clock: Callable[[], float] = time.time,
        *,
        signer: Signer | None = None,
        jwt_verifier: JWTVerifier | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.audit = audit
        self.fingerprint = fingerprint
        self.clock = clock
        self.signer = signer
        self.jwt_verifier = jwt_verifier
        routes = config.routes
        self.routes = RouteTable.build(
            {
                name: (rc.path if rc is not None else None)
                for name, rc in (
                    ("cas_logout", routes.cas_logout),
                    ("logout_action", routes.logout_action),
                    ("saml_logout", routes.saml_logout),
                )
            }
        )
        self.route_modes = {
            name: rc.mode
            for name, rc in (
                ("cas_logout", routes.cas_logout),
                ("logout_action", routes.logout_action),
                ("saml_logout", routes.saml_logout),
            )
            if rc is not None
        }
        self.cookie_names = frozenset(config.sessions.cookies)
        self.credentials = CredentialReader(
            self.cookie_names, fingerprint, url_parameters=config.sessions.url_parameters
        )
        idle = config.sessions.idle_timeout
        # Last-seen writes are throttled: one write per session per this many seconds.
        self._touch_every = max(1.0, min(60.0, idle / 10)) if idle else 0.0
        self._background: set[asyncio.Task[None]] = set()
        # The Elasticsearch side: token learning and the SAML logout route.
        self.tokens = TokenLearning(self)
        self.saml = SamlLogout(self)

    # -- entry points --------------------------------------------------------

    async def handle_request(self, req: Request) -> Decision:
        path = normalise_path(req.path)
        route = self.routes.by_path.get(path)
        if route is not None:
            return await self._logout(route, req)
        if path == TOKEN_PATH and req.method == "POST":
            return await self.tokens.token_request(req)
        decision = await self.enforce(req)
        if path == AUTHENTICATE_PATH and req.method == "POST" and decision is FORWARD:
            return LEARNING_FORWARD
        return decision

    def learns_from(self, raw_path: str) -> bool:
        """Whether an answer on this path can carry a token pair to learn."""
        return normalise_path(raw_path) in (AUTHENTICATE_PATH, TOKEN_PATH)

    def needs_body(self, raw_path: str) -> bool:
        """Whether the decision for this path reads the request body (so it
        must never be streamed past the gateway)."""
        path = normalise_path(raw_path)
        if path in (AUTHENTICATE_PATH, TOKEN_PATH):
            return True
        return self.routes.by_path.get(path) == SAML_LOGOUT

    async def handle_response(self, req: Request, resp: Response) -> None:
        """Learn sessions (and ticket → session) and token pairs from what the
        upstream answered."""
        if req.method == "POST" and resp.status == 200:
            path = normalise_path(req.path)
            if path == AUTHENTICATE_PATH:
                await self.tokens.learn_authenticate(req, resp)
            elif path == TOKEN_PATH:
                await self.tokens.learn_refresh(req, resp)
        set_cookie = resp.header_all("set-cookie")
        if not set_cookie:
            return
        sessions = session_cookies_set(set_cookie, self.cookie_names)
        if not sessions:
            return
        now = self.clock()
        expires = now + self.config.sessions.max_lifetime
        tickets = [t for t in query.values(req.query, "ticket") if t]
        try:
            for value in sessions:
                session_fp = self.fingerprint(SESSION, value)
                await self.store.record_session(SessionRecord(session_fp, now, now, expires))
                for ticket in tickets:
                    await self.store.record_ticket(
                        self.fingerprint(TICKET, ticket), session_fp, expires
                    )
        except StoreError as exc:
            # Learning never blocks a login; revocation works without it.
            log.warning("could not record a learned session: %s", exc)

    async def gateway_error(self, req: Request, where: str) -> Respond:
        """Audit an internal failure; the adapter answers with the result."""
        answer = responses.gateway_error()
        try:
            await self.audit.write(
                AuditEvent(
                    event="gateway_error",
                    outcome="error",
                    status=answer.status,
                    client=req.client,
                    request_id=req.request_id,
                    reason=where,
                )
            )
        except AuditError as exc:
            log.error("audit write failed while recording a gateway error: %s", exc)
        return answer

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()

    # -- enforcement ---------------------------------------------------------

    async def enforce(self, req: Request, extra: Sequence[Credential] = ()) -> Decision:
        creds = self.credentials.read(req)
        if extra:
            creds.extend(extra)
        if not creds:
            return FORWARD
        now = self.clock()
        try:
            revoked = await self.store.revoked([c.fingerprint for c in creds], now)
        except StoreError as exc:
            return self._store_failed_check(exc)
        if revoked:
            bad = [c for c in creds if c.fingerprint in revoked]
            return await self.refuse(req, bad, event="revoked_credential_use", route=None)
        if self.jwt_verifier is not None and (invalid := self._invalid_jwt(req, now)):
            log.info("refused a bearer JWT (%s) client=%s", invalid, req.client)
            return responses.invalid_token()
        if self._touch_every:
            return await self._idle_check(req, creds, now)
        return FORWARD

    def _invalid_jwt(self, req: Request, now: float) -> str | None:
        """Why a bearer JWT does not verify (SPEC §5), or None. Opaque bearer
        tokens are the upstream's business."""
        assert self.jwt_verifier is not None
        for token in bearer_tokens(req.header_all("authorization")):
            if looks_like_jwt(token):
                try:
                    self.jwt_verifier.verify(token, now=now)
                except InvalidJWT as exc:
                    return str(exc)
        return None

    def _store_failed_check(self, exc: StoreError) -> Decision:
        if self.config.store.on_error == "allow":
            log.warning("store unavailable, forwarding unchecked (on_error: allow): %s", exc)
            return FORWARD
        log.warning("store unavailable, refusing (on_error: deny): %s", exc)
        return responses.store_unavailable()

    async def refuse(
        self,
        req: Request,
        bad: Sequence[Credential],
        *,
        event: str,
        route: str | None,
        reason: str | None = None,
        user: str | None = None,
    ) -> Respond:
        answer = responses.credential_revoked(
            [c.name for c in bad if c.kind == SESSION],
            bearer=any(c.name == "bearer" for c in bad),
        )
        log.info(
            "refused %s route=%s client=%s credentials=%s",
            event,
            route or "-",
            req.client,
            ",".join(c.fingerprint for c in bad),
        )
        try:
            await self.audit.write(
                AuditEvent(
                    event=event,
                    route=route,
                    reason=reason,
                    outcome="rejected" if event != "logout" else "success",
                    status=answer.status,
                    client=req.client,
                    user=user,
                    credentials=tuple(c.fingerprint for c in bad),
                    request_id=req.request_id,
                )
            )
        except AuditError as exc:
            # Refusing is already the safe direction; keep refusing.
            log.error("audit write failed for a refused request: %s", exc)
        return answer

    async def _idle_check(self, req: Request, creds: Sequence[Credential], now: float) -> Decision:
        idle = self.config.sessions.idle_timeout or 0
        for cred in creds:
            if cred.kind != SESSION:
                continue
            try:
                rec = await self.store.get_session(cred.fingerprint, now)
            except StoreError as exc:
                return self._store_failed_check(exc)
            if rec is None:
                continue
            if now - rec.last_seen > idle:
                try:
                    await self.store.revoke(
                        [
                            Revocation(
                                cred.fingerprint, SESSION, now + self.config.sessions.max_lifetime
                            )
                        ]
                    )
                except StoreError as exc:
                    return self._store_failed_check(exc)
                return await self.refuse(
                    req, [cred], event="logout", route=IDLE_TIMEOUT, reason="timeout", user=rec.user
                )
            if now - rec.last_seen >= self._touch_every:
                self._spawn(self._touch(cred.fingerprint, now))
        return FORWARD

    async def _touch(self, fingerprint: str, now: float) -> None:
        try:
            await self.store.touch_session(fingerprint, now)
        except StoreError as exc:
            log.warning("could not update a session's last-seen time: %s", exc)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- logouts -------------------------------------------------------------

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

    async def store_failed_logout(
        self, req: Request, route: str, reason: str, exc: StoreError
    ) -> Respond:
        log.error("logout could not revoke (store failing), answered 503: %s", exc)
        answer = responses.store_unavailable()
        await self.audit_quietly(
            AuditEvent(
                event="logout",
                route=route,
                reason=reason,
                outcome="error",
                status=answer.status,
                client=req.client,
                request_id=req.request_id,
            )
        )
        return answer

    async def _logout(self, route: str, req: Request) -> Decision:
        if route == CAS_LOGOUT:
            return await self._cas_logout(req)
        if route == LOGOUT_ACTION:
            return await self._logout_action(req)
        return await self.saml.logout(req)

    async def _cas_logout(self, req: Request) -> Decision:
        creds = self.credentials.read(req)
        browser_logout = req.method != "POST"
        forward = browser_logout or self.route_modes[CAS_LOGOUT] == "forward"
        try:
            done = await self.revoke(creds)
        except StoreError as exc:
            return await self.store_failed_logout(req, CAS_LOGOUT, "manual", exc)
        answer = None if forward else responses.cas_logout_done(self.cookie_names)
        if not await self.audit_logout(
            req, CAS_LOGOUT, "manual", done, answer.status if answer else None
        ):
            return responses.audit_unavailable()
        if answer is not None:
            return answer
        if not browser_logout:
            return Forward(route=CAS_LOGOUT)
        return await self._cas_browser_logout_forward(req, done)

    async def _cas_browser_logout_forward(self, req: Request, done: LogoutResult) -> Decision:
        """`GET /cas/logout?service=…`: keep `service` only if it is allowed;
        the obsolete `url` parameter is always dropped (CAS 3.0 §2.3.1)."""
        remove = {"url"}
        services = query.values(req.query, "service")
        if services:
            why = (
                "repeated service parameter"
                if len(services) > 1
                else cas.service_rejection(services[0], self.config.cas.allowed_service_hosts)
            )
            if why is not None:
                remove.add("service")
                log.warning("CAS logout: removed service redirect target (%s)", why)
                ok = await self.audit_quietly(
                    AuditEvent(
                        event="invalid_request",
                        route=CAS_LOGOUT,
                        reason=why,
                        outcome="rejected",
                        status=None,
                        client=req.client,
                        credentials=done.fingerprints,
                        request_id=req.request_id,
                        forwarded=True,
                    )
                )
                if not ok:
                    return responses.audit_unavailable()
        new_query = query.without(req.query, frozenset(remove))
        if new_query != req.query:
            return Forward(query=new_query, route=CAS_LOGOUT)
        return Forward(route=CAS_LOGOUT)

    async def _logout_action(self, req: Request) -> Decision:
        reason = "timeout" if query.is_timeout_logout(req.query) else "manual"
        creds = self.credentials.read(req)
        forward = self.route_modes[LOGOUT_ACTION] == "forward"
        try:
            done = await self.revoke(creds)
        except StoreError as exc:
            return await self.store_failed_logout(req, LOGOUT_ACTION, reason, exc)
        answer = None
        if not forward:
            server_url = self.config.cas.server_url
            assert server_url is not None  # config requires it while the route is enabled
            location = cas.logout_redirect(server_url, self.config.cas.service_url)
            answer = responses.logout_action_redirect(location, self.cookie_names)
        if not await self.audit_logout(
            req, LOGOUT_ACTION, reason, done, answer.status if answer else None
        ):
            return responses.audit_unavailable()
        return answer if answer is not None else Forward(route=LOGOUT_ACTION)
