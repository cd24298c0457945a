"""Request → Decision: dispatch to the logout routes, enforcement on every
other request, and learning from the upstream's answers.

    request ─┬─ a logout route's path ──→ its family in gateway/logouts/ ─┐
             ├─ POST token API ─────────→ refresh-token check (+ enforce)  ├→ Decision
             └─ anything else ──────────→ enforce: credentials → store    ─┘
    response ──→ learn sessions (Set-Cookie, ticket → session), token pairs

The logout routes themselves live in `gateway.logouts` (one module per route
family); they get a `LogoutKit`, not this class.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from cryptography import x509

from gateway import query, responses
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
from gateway.http import FORWARD, Decision, Request, Respond, Response
from gateway.jwt_tokens import InvalidJWT, JWTVerifier, looks_like_jwt
from gateway.logouts import LogoutKit, RouteFamily, build_logout_routes
from gateway.oidc.logout_token import LogoutTokenVerifier
from gateway.principals import user_key
from gateway.routes import RouteTable, normalise_path
from gateway.saml.redirect_binding import Signer
from gateway.session_users import session_user
from gateway.store import (
    IndexEntry,
    NotReplicated,
    Revocation,
    SessionRecord,
    Store,
    StoreError,
)
from gateway.token_learning import (
    AUTHENTICATE_PATH,
    LEARNING_FORWARD,
    OIDC_AUTHENTICATE_PATH,
    TOKEN_PATH,
    TokenLearning,
)

log = logging.getLogger("gateway")

IDLE_TIMEOUT = "idle_timeout"
# Authenticate APIs whose 200 answer carries a token pair to learn.
_AUTHENTICATE_PATHS = (AUTHENTICATE_PATH, OIDC_AUTHENTICATE_PATH)


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
        logout_token_verifier: LogoutTokenVerifier | None = None,
        idp_certificates: Sequence[x509.Certificate] = (),
    ) -> None:
        self.config = config
        self.store = store
        self.audit = audit
        self.fingerprint = fingerprint
        self.clock = clock
        self.jwt_verifier = jwt_verifier
        self.cookie_names = frozenset(config.sessions.cookies)
        self.credentials = CredentialReader(
            self.cookie_names, fingerprint, url_parameters=config.sessions.url_parameters
        )
        kit = LogoutKit(config, store, audit, self.credentials, clock)
        # Route name → its family (gateway/logouts/), for the enabled routes only.
        self.logouts: dict[str, RouteFamily] = build_logout_routes(
            kit,
            signer=signer,
            logout_token_verifier=logout_token_verifier,
            idp_certificates=idp_certificates,
        )
        by_name = config.routes.by_name()
        self.routes = RouteTable.build(
            {
                name: rc.path
                for name, rc in by_name.items()
                if rc is not None and name in self.logouts
            }
        )
        # Families with routes found by content, not path (asked on requests no
        # path route took); empty unless such a route is enabled.
        families = {id(f): f for f in self.logouts.values()}.values()
        self._matchers = [f for f in families if type(f).match is not RouteFamily.match]
        idle = config.sessions.idle_timeout
        # Last-seen writes are throttled: one write per session per this many seconds.
        self._touch_every = max(1.0, min(60.0, idle / 10)) if idle else 0.0
        self._background: set[asyncio.Task[None]] = set()
        # Learning Elasticsearch token pairs, and the refresh-token check.
        self.tokens = TokenLearning(
            config, store, self.credentials, fingerprint, clock, enforce=self.enforce
        )

    # -- entry points --------------------------------------------------------

    async def handle_request(self, req: Request) -> Decision:
        path = normalise_path(req.path)
        # The common case (no logout path, no content-matched route) inline.
        route = self.routes.by_path.get(path) if self.routes.by_path else None
        if route is not None or self._matchers:
            route = self._route(path, req)
            if route is not None:
                return await self.logouts[route].handle(route, req)
        if path == TOKEN_PATH and req.method == "POST":
            return await self.tokens.token_request(req)
        decision = await self.enforce(req)
        if path in _AUTHENTICATE_PATHS and req.method == "POST" and decision is FORWARD:
            return LEARNING_FORWARD
        return decision

    def route_of(self, req: Request) -> str | None:
        """The logout route a request is (path and method), for reports and the
        live view; None for an ordinary request."""
        return self._route(normalise_path(req.path), req)

    def _route(self, path: str, req: Request) -> str | None:
        """The logout route this request is, or None (an ordinary request)."""
        route = self.routes.by_path.get(path)
        if route is not None and self.logouts[route].claims(route, req):
            return route
        for family in self._matchers:
            route = family.match(req)
            if route is not None:
                return route
        return None

    def learns_from(self, raw_path: str, method: str = "POST") -> bool:
        """Whether the upstream's answer to this request matters: a token pair to
        learn (POST), or a forwarded logout that acts on the upstream's answer."""
        path = normalise_path(raw_path)
        if method == "POST" and path in (*_AUTHENTICATE_PATHS, TOKEN_PATH):
            return True
        route = self.routes.by_path.get(path)
        return route is not None and self.logouts[route].wants_answer(route, method)

    def needs_body(self, req: Request) -> bool:
        """Whether the decision for this request reads its body (so it must
        never be streamed past the gateway). `req` carries headers only."""
        path = normalise_path(req.path)
        if path in (AUTHENTICATE_PATH, TOKEN_PATH):
            return True
        route = self._route(path, req)
        return route is not None and self.logouts[route].reads_body(route, req)

    async def handle_response(self, req: Request, resp: Response) -> None:
        """Learn sessions (and ticket → session) and token pairs from what the
        upstream answered."""
        if req.method == "POST" and resp.status == 200:
            path = normalise_path(req.path)
            if path == AUTHENTICATE_PATH:
                await self.tokens.learn_authenticate(req, resp)
            elif path == OIDC_AUTHENTICATE_PATH:
                await self.tokens.learn_oidc_authenticate(resp)
            elif path == TOKEN_PATH:
                await self.tokens.learn_refresh(req, resp)
        elif req.method != "POST" and self.routes.by_path:
            route = self.routes.by_path.get(normalise_path(req.path))
            if route is not None and self.logouts[route].wants_answer(route, req.method):
                await self.logouts[route].upstream_answered(route, req, resp)
        set_cookie = resp.header_all("set-cookie")
        if not set_cookie:
            return
        sessions = session_cookies_set(set_cookie, self.cookie_names)
        if not sessions:
            return
        now = self.clock()
        expires = now + self.config.sessions.max_lifetime
        tickets = [t for t in query.values(req.query, "ticket") if t]
        user = session_user(resp, self.config.sessions.user_header)
        try:
            for value in sessions:
                session_fp = self.fingerprint(SESSION, value)
                await self.store.record_session(SessionRecord(session_fp, now, now, expires, user))
                if user is not None:
                    # Listed under the user, so POST /-/revoke {"user"} finds it anywhere.
                    await self.store.index_credentials(
                        [user_key(self.fingerprint, user)],
                        [IndexEntry(session_fp, SESSION, expires)],
                    )
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
                except NotReplicated as exc:
                    # The session is known to be idle: never forwarded, whatever
                    # on_error says; the timeout logout is not done (SPEC §12).
                    log.error("idle-timeout revocation not replicated, answered 503: %s", exc)
                    return responses.store_unavailable()
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
