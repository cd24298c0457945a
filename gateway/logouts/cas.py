"""The CAS side of the cluster (MRS Manager): `POST /cas/logout` (route
`cas_logout`, SPEC §6.1) and `GET /web/v1/logout_action` (route
`logout_action`, SPEC §6.2)."""

from __future__ import annotations

import logging

from gateway import cas, query, responses
from gateway.audit import AuditEvent
from gateway.http import Decision, Forward, Request
from gateway.logouts.family import RouteFamily
from gateway.logouts.kit import LogoutKit, LogoutResult
from gateway.routes import CAS_LOGOUT, LOGOUT_ACTION
from gateway.store import StoreError

log = logging.getLogger("gateway")


class CasLogouts(RouteFamily):
    """Both CAS logout routes; revoke the session cookies (or URL session ids)
    the call carries. Neither reads the body."""

    routes = (CAS_LOGOUT, LOGOUT_ACTION)

    def __init__(self, kit: LogoutKit) -> None:
        self.kit = kit

    async def handle(self, route: str, req: Request) -> Decision:
        if route == CAS_LOGOUT:
            return await self._cas_logout(req)
        return await self._logout_action(req)

    async def _cas_logout(self, req: Request) -> Decision:
        kit = self.kit
        creds = kit.credentials.read(req)
        browser_logout = req.method != "POST"
        forward = browser_logout or kit.mode(CAS_LOGOUT) == "forward"
        try:
            done = await kit.revoke(creds)
        except StoreError as exc:
            return await kit.store_failed_logout(req, CAS_LOGOUT, "manual", exc)
        answer = None if forward else responses.cas_logout_done(kit.cookie_names)
        if not await kit.audit_logout(
            req, CAS_LOGOUT, "manual", done, answer.status if answer else None
        ):
            return responses.audit_unavailable()
        if answer is not None:
            return answer
        if not browser_logout:
            return Forward(route=CAS_LOGOUT)
        return await self._browser_logout_forward(req, done)

    async def _browser_logout_forward(self, req: Request, done: LogoutResult) -> Decision:
        """`GET /cas/logout?service=…`: keep `service` only if it is allowed;
        the obsolete `url` parameter is always dropped (CAS 3.0 §2.3.1)."""
        remove = {"url"}
        services = query.values(req.query, "service")
        if services:
            why = (
                "repeated service parameter"
                if len(services) > 1
                else cas.service_rejection(services[0], self.kit.config.cas.allowed_service_hosts)
            )
            if why is not None:
                remove.add("service")
                log.warning("CAS logout: removed service redirect target (%s)", why)
                ok = await self.kit.audit_quietly(
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
        kit = self.kit
        reason = "timeout" if query.is_timeout_logout(req.query) else "manual"
        creds = kit.credentials.read(req)
        try:
            done = await kit.revoke(creds)
        except StoreError as exc:
            return await kit.store_failed_logout(req, LOGOUT_ACTION, reason, exc)
        answer = None
        if kit.mode(LOGOUT_ACTION) != "forward":
            server_url = kit.config.cas.server_url
            assert server_url is not None  # config requires it while the route is enabled
            location = cas.logout_redirect(server_url, kit.config.cas.service_url)
            answer = responses.logout_action_redirect(location, kit.cookie_names)
        if not await kit.audit_logout(
            req, LOGOUT_ACTION, reason, done, answer.status if answer else None
        ):
            return responses.audit_unavailable()
        return answer if answer is not None else Forward(route=LOGOUT_ACTION)
