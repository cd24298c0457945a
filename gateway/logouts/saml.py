"""`POST /_security/saml/logout` (route `saml_logout`, SPEC §6.3), the way the
Elasticsearch SAML realm answers it: revoke the access token and its refresh
token (the whole learned lineage), then answer with a signed SAML
LogoutRequest redirect for the IdP (HTTP-Redirect binding) or forward the call.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

from gateway import responses
from gateway.es_bodies import parse_saml_logout
from gateway.http import Decision, Forward, Request, Respond, json_response
from gateway.logouts.carried import refuse_revoked_carrier
from gateway.logouts.family import RouteFamily
from gateway.logouts.kit import LogoutKit
from gateway.logouts.request_body import BodyRefused, read_body
from gateway.logouts.token_lineage import MixedSessions, named_tokens, token_outcome
from gateway.routes import SAML_LOGOUT
from gateway.saml.learn import NameID
from gateway.saml.logout_request import logout_request_xml, new_request_id
from gateway.saml.redirect_binding import Signer, redirect_url
from gateway.store import LogoutRequestRecord, StoreError, TokenRecord

log = logging.getLogger("gateway")

# How long an issued LogoutRequest ID is kept for the IdP's LogoutResponse.
LOGOUT_REQUEST_TTL = 3600.0


class SamlLogout(RouteFamily):
    routes = (SAML_LOGOUT,)

    def __init__(self, kit: LogoutKit, signer: Signer | None) -> None:
        self.kit = kit
        self.signer = signer

    def reads_body(self, route: str, req: Request) -> bool:
        return True

    async def handle(self, route: str, req: Request) -> Decision:
        return await self.logout(req)

    def build_redirect(self, record: TokenRecord, now: float) -> tuple[str, str] | None:
        """(LogoutRequest ID, IdP redirect URL), or None when the session has no
        NameID (e.g. an encrypted assertion) or the IdP has no SLO endpoint."""
        saml = self.kit.config.saml
        if record.name_id is None or saml.idp_slo_url is None or saml.sp_entity_id is None:
            return None
        request_id = new_request_id()
        xml = logout_request_xml(
            request_id=request_id,
            issue_instant=datetime.fromtimestamp(now, UTC),
            destination=saml.idp_slo_url,
            issuer=saml.sp_entity_id,
            name_id=NameID(
                record.name_id,
                record.name_id_format,
                record.name_qualifier,
                record.sp_name_qualifier,
            ),
            session_index=record.session_index,
        )
        signer = self.signer if saml.sign else None
        return request_id, redirect_url(saml.idp_slo_url, xml, signer=signer)

    async def logout(self, req: Request) -> Decision:
        kit = self.kit
        try:
            body = await read_body(kit, req, SAML_LOGOUT, parse_saml_logout)
        except BodyRefused as bad_body:
            return bad_body.answer

        now = kit.clock()
        tokens = [(body.token, "token")]
        if body.refresh_token:
            tokens.append((body.refresh_token, "refresh_token"))
        try:
            logout = await named_tokens(kit, tokens, now)
            # One lookup serves both: was this token already logged out, and
            # (for the audit outcome) which of the lineage already were.
            revoked_before = await kit.store.revoked([c.fingerprint for c in logout.creds], now)
        except MixedSessions:
            reason = "the refresh token does not belong to the access token's session"
            refusal = responses.es_error(400, "illegal_argument_exception", reason)
            return await kit.invalid_request(req, SAML_LOGOUT, refusal, reason)
        except StoreError as exc:
            return await kit.store_failed_logout(req, SAML_LOGOUT, "manual", exc)
        record, creds = logout.record, logout.creds
        already = logout.first in revoked_before

        short_circuit = kit.mode(SAML_LOGOUT) == "short_circuit"
        if not short_circuit:
            # Forwarded: a revoked credential of the caller's own that this call
            # does not log out must not ride it to the upstream (as on the OIDC routes).
            try:
                logged_out = [c.fingerprint for c in creds]
                if refused := await refuse_revoked_carrier(kit, req, SAML_LOGOUT, logged_out):
                    return refused
            except StoreError as exc:
                return await kit.store_failed_logout(req, SAML_LOGOUT, "manual", exc)
        redirect = None
        if short_circuit and record is not None and not already:
            redirect = self.build_redirect(record, now)  # before revoking: read first (SPEC §6)

        issued = None
        if redirect is not None and record is not None:
            issued = LogoutRequestRecord(redirect[0], record.session_id, now + LOGOUT_REQUEST_TTL)
        try:
            done = await kit.revoke(creds, logout_request=issued, revoked_before=revoked_before)
        except StoreError as exc:
            return await kit.store_failed_logout(req, SAML_LOGOUT, "manual", exc)
        outcome = token_outcome(logout, revoked_before)
        done = replace(done, outcome=outcome)

        answer: Respond | None = None
        if short_circuit:
            payload = (
                {"id": redirect[0], "redirect": redirect[1]}
                if redirect
                else {"id": None, "redirect": None}
            )
            answer = json_response(200, payload)
        user = record.username if record is not None else None
        if not await kit.audit_logout(
            req, SAML_LOGOUT, "manual", done, answer.status if answer else None, user=user
        ):
            return responses.audit_unavailable()
        return answer if answer is not None else Forward(route=SAML_LOGOUT)
