"""`POST /_security/saml/invalidate` (route `saml_invalidate`, SPEC §10.2): the
IdP ends a SAML session and sends the browser to the SP with a signed
LogoutRequest (HTTP-Redirect binding); Kibana hands the query to this API.

The gateway verifies the request over the raw query bytes with the pinned IdP
certificate, checks Issuer, Destination, time and that its ID was never used,
then revokes the tokens learned for that NameID — only those of the named
SessionIndex when the request names one (ending every session of a NameID for
one SessionIndex is mod_auth_mellon's bug, latchset #140) — and answers with a
signed LogoutResponse redirect for the IdP, RelayState echoed byte for byte.
The tokens are found through the SAML index keys learning writes
(`gateway.principals.saml_keys`), in the shared store: any replica finds them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography import x509

from gateway import responses
from gateway.credentials import TOKEN, Credential
from gateway.es_slo_bodies import InvalidateBody, parse_saml_invalidate
from gateway.http import Decision, Forward, Request, Respond, json_response
from gateway.logouts.family import RouteFamily
from gateway.logouts.kit import LogoutKit
from gateway.logouts.once import remember_once
from gateway.logouts.request_body import BodyRefused, read_body
from gateway.logouts.saml_idp import once_key, refuse
from gateway.principals import saml_name_id_key, saml_session_key
from gateway.routes import SAML_INVALIDATE
from gateway.saml.idp_keys import verify_redirect
from gateway.saml.logout_request import new_request_id
from gateway.saml.logout_response import logout_response_xml
from gateway.saml.redirect_binding import Signer, inflate_b64, query_param_bytes, redirect_url
from gateway.saml.slo_messages import (
    MAX_XML_BYTES,
    IdpLogoutRequest,
    check_message,
    parse_logout_request,
    replay_window_end,
)
from gateway.store import IndexEntry, StoreError

log = logging.getLogger("gateway")

REPLAY_SCOPE = "saml_idp_logout_request"


class SamlInvalidate(RouteFamily):
    routes = (SAML_INVALIDATE,)

    def __init__(
        self, kit: LogoutKit, signer: Signer | None, idp_certificates: Sequence[x509.Certificate]
    ) -> None:
        if kit.config.saml.sign and signer is None:
            # Fail at start, not with an unsigned LogoutResponse the IdP drops.
            raise ValueError("saml_invalidate signs its LogoutResponse: the SP key is not loaded")
        self.kit = kit
        self.signer = signer
        self.certificates = tuple(idp_certificates)

    def claims(self, route: str, req: Request) -> bool:
        return req.method == "POST"  # the API is POST only; anything else is the upstream's

    def reads_body(self, route: str, req: Request) -> bool:
        return True

    async def handle(self, route: str, req: Request) -> Decision:
        kit = self.kit
        try:
            body = await read_body(kit, req, SAML_INVALIDATE, parse_saml_invalidate)
        except BodyRefused as bad_body:
            return bad_body.answer
        now = kit.clock()
        saml = kit.config.saml
        try:
            msg = self._verified_request(body, now)
        except ValueError as exc:  # SignatureError, SAMLMessageError, inflate errors
            return await refuse(kit, req, SAML_INVALIDATE, f"SAML LogoutRequest refused: {exc}")

        try:
            assert msg.issuer is not None  # check_message insists on it
            replay_key = once_key(msg.issuer, msg.id)
            if await kit.store.is_claimed(REPLAY_SCOPE, replay_key, now):
                why = "SAML LogoutRequest refused: its ID was already used (replay)"
                return await refuse(kit, req, SAML_INVALIDATE, why)
            entries = await self._learned_tokens(msg, now)
            fps = list(entries)
            # Read what the audit needs before revoking (SPEC §6 order).
            record = await kit.store.get_token(fps[0], now) if fps else None
            revoked_before = await kit.store.revoked(fps, now) if fps else frozenset()
            done = await kit.revoke(
                [Credential(TOKEN, "saml_session", fp) for fp in fps],
                revoked_before=revoked_before,
            )
        except StoreError as exc:
            return await kit.store_failed_logout(req, SAML_INVALIDATE, "idp", exc)
        # The ID is claimed only once the logout is done: a failure above (503)
        # leaves no claim behind, so the IdP's (or browser's) retry still works.
        await remember_once(
            kit, REPLAY_SCOPE, replay_key, replay_window_end(msg, saml.clock_skew), now
        )
        # Counted as Elasticsearch counts: access and refresh tokens separately,
        # only those this logout ended.
        invalidated = len(set(fps) - revoked_before)

        answer: Respond | None = None
        if kit.mode(SAML_INVALIDATE) == "short_circuit":
            payload = {
                "redirect": self._response_url(body, msg, now),
                "invalidated": invalidated,
                "realm": body.realm,
            }
            answer = json_response(200, payload)
        user = record.username if record is not None else None
        if not await kit.audit_logout(
            req, SAML_INVALIDATE, "idp", done, answer.status if answer else None, user=user
        ):
            return responses.audit_unavailable()
        return answer if answer is not None else Forward(route=SAML_INVALIDATE)

    def _verified_request(self, body: InvalidateBody, now: float) -> IdpLogoutRequest:
        """Signature first (over the raw query, never re-encoded): nothing an
        unauthenticated sender wrote is inflated or parsed."""
        saml = self.kit.config.saml
        params = verify_redirect(body.query_string, self.certificates)
        if "SAMLRequest" not in params:
            raise ValueError("the query carries no SAMLRequest")
        msg = parse_logout_request(inflate_b64(params["SAMLRequest"], max_bytes=MAX_XML_BYTES))
        assert saml.idp_entity_id is not None  # required while the route is active
        check_message(
            msg,
            idp_entity_id=saml.idp_entity_id,
            sp_slo_url=saml.sp_slo_url,
            now=now,
            clock_skew=saml.clock_skew,
        )
        return msg

    async def _learned_tokens(self, msg: IdpLogoutRequest, now: float) -> dict[str, IndexEntry]:
        fingerprint = self.kit.credentials.fingerprint
        name_id = msg.name_id.value
        keys = [saml_session_key(fingerprint, name_id, index) for index in msg.session_indexes]
        if not keys:
            keys = [saml_name_id_key(fingerprint, name_id)]
        entries: dict[str, IndexEntry] = {}
        for key in keys:
            for entry in await self.kit.store.indexed_credentials(key, now):
                entries.setdefault(entry.fingerprint, entry)
        return entries

    def _response_url(self, body: InvalidateBody, msg: IdpLogoutRequest, now: float) -> str:
        saml = self.kit.config.saml
        assert saml.idp_slo_url is not None and saml.sp_entity_id is not None
        xml = logout_response_xml(
            response_id=new_request_id(),
            issue_instant=datetime.fromtimestamp(now, UTC),
            destination=saml.idp_slo_url,
            issuer=saml.sp_entity_id,
            in_response_to=msg.id,
        )
        return redirect_url(
            saml.idp_slo_url,
            xml,
            param="SAMLResponse",
            relay_state=query_param_bytes(body.query_string, "RelayState"),
            signer=self.signer if saml.sign else None,
        )
