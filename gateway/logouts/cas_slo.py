"""CAS single logout (route `cas_slo`, SPEC §10.1): the CAS server ends a
session at the centre and tells the service, on whatever path the service URL
has.

* Back-channel: a form POST with a `logoutRequest` field, accepted only from
  `cas.slo.allowed_sources` (the message is unsigned); anything else is `403`,
  never forwarded.
* Front-channel (`cas.slo.front_channel`): a browser GET with
  `?logoutRequest=<deflated base64>[&callback=<JSONP name>]`; the ticket it
  names is the secret.

The ticket → session link was learned at login (`Gateway.handle_response`) and
lives in the shared store, so the replica the CAS server posts to needs not be
the one that saw the login (java-cas-client #173 is exactly that failure).
A known ticket's session is revoked; an unknown one is answered `200` all the
same (CAS ignores answers: fire and forget).
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from gateway import responses
from gateway.cas_slo_message import (
    CasSloError,
    back_channel_tickets,
    form_values,
    front_channel_tickets,
    valid_callback,
)
from gateway.client_address import client_in
from gateway.credentials import SESSION, TICKET, Credential
from gateway.http import NO_STORE, Decision, Forward, Request, Respond, json_response
from gateway.logouts.family import RouteFamily
from gateway.logouts.kit import LogoutKit, LogoutResult
from gateway.routes import CAS_SLO
from gateway.store import StoreError

log = logging.getLogger("gateway")

FORM = "application/x-www-form-urlencoded"


class CasSingleLogout(RouteFamily):
    routes = (CAS_SLO,)

    def __init__(self, kit: LogoutKit) -> None:
        self.kit = kit
        self.sources = kit.config.cas.slo.allowed_sources
        self.front_channel = kit.config.cas.slo.front_channel
        self.max_body = kit.config.limits.max_body_bytes

    # -- recognising it (runs on every request no path route took) -----------

    def match(self, req: Request) -> str | None:
        if req.method == "POST":
            return CAS_SLO if self._back_channel(req) else None
        if req.method == "GET" and self.front_channel and req.query:
            return CAS_SLO if form_values(req.query) is not None else None
        return None

    def _back_channel(self, req: Request) -> bool:
        """A form POST within `limits.max_body_bytes` carrying `logoutRequest`.
        Without the body (deciding whether to stream it) the declared size
        decides; an encoded body is not a CAS message (CAS never compresses,
        and the upstream's CAS client would not read it either)."""
        content_type = req.header("content-type")
        if content_type is None or content_type.split(";", 1)[0].strip().lower() != FORM:
            return False
        if req.header("content-encoding"):
            return False
        if req.body is None:
            length = (req.header("content-length") or "").strip()
            return length.isdigit() and int(length) <= self.max_body
        if len(req.body) > self.max_body:
            return False
        return form_values(req.body.decode("latin-1")) is not None

    def reads_body(self, route: str, req: Request) -> bool:
        return req.method == "POST"

    # -- handling it ------------------------------------------------------------

    async def handle(self, route: str, req: Request) -> Decision:
        kit = self.kit
        back = req.method == "POST"
        reason = "backchannel" if back else "frontchannel"
        if back and not client_in(req.client, self.sources):
            log.warning("CAS back-channel logout from %s refused: source not allowed", req.client)
            return await kit.invalid_request(
                req,
                CAS_SLO,
                json_response(403, {"error": "source_not_allowed"}),
                "source not in cas.slo.allowed_sources",
            )
        callback: str | None = None
        try:
            if back:
                values = form_values((req.body or b"").decode("latin-1"))
                if not values:
                    raise CasSloError("no logoutRequest field")
                # The first value, as a servlet's getParameter (and so the
                # upstream's CAS client) reads it.
                tickets = back_channel_tickets(values[0])
            else:
                params = parse_qsl(req.query, keep_blank_values=True, errors="replace")
                callbacks = [v for k, v in params if k == "callback"]
                if callbacks:
                    callback = callbacks[0]
                    if not valid_callback(callback):
                        # Never echoed: a JSONP name is script (SPEC §10.1).
                        raise CasSloError("callback is not a plain JSONP function name")
                values = [v for k, v in params if k == "logoutRequest"]
                if not values:
                    raise CasSloError("no logoutRequest parameter")
                tickets = front_channel_tickets(values[0])
        except CasSloError as exc:
            refusal = json_response(400, {"error": "invalid_request"})
            return await kit.invalid_request(req, CAS_SLO, refusal, str(exc))

        now = kit.clock()
        fingerprint = kit.credentials.fingerprint
        ticket_fps = tuple(fingerprint(TICKET, t) for t in tickets)
        try:
            found = [await kit.store.session_for_ticket(fp, now) for fp in ticket_fps]
            sessions = [Credential(SESSION, "cas_ticket", s) for s in dict.fromkeys(found) if s]
            if sessions:
                done = await kit.revoke(sessions)
                done = LogoutResult(done.outcome, done.fingerprints + ticket_fps)
            else:
                done = LogoutResult("unknown_ticket", ticket_fps)
        except StoreError as exc:
            return await kit.store_failed_logout(req, CAS_SLO, reason, exc)

        answer: Respond | None = None
        if kit.mode(CAS_SLO) == "short_circuit":
            answer = self._answer(callback)
        if not await kit.audit_logout(
            req, CAS_SLO, reason, done, answer.status if answer is not None else None
        ):
            return responses.audit_unavailable()
        return answer if answer is not None else Forward(route=CAS_SLO)

    @staticmethod
    def _answer(callback: str | None) -> Respond:
        if callback is None:
            return Respond(200, (("content-type", "text/plain; charset=utf-8"), *NO_STORE))
        headers = (
            ("content-type", "application/javascript; charset=utf-8"),
            ("x-content-type-options", "nosniff"),
            *NO_STORE,
        )
        return Respond(200, headers, f"{callback}(true)".encode("ascii"))
