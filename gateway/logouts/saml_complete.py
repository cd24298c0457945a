"""`POST /_security/saml/complete_logout` (route `saml_complete`, SPEC §10.3):
the IdP's LogoutResponse to a LogoutRequest `saml_logout` issued, handed over
by Kibana after the IdP sent the browser back.

Redirect binding (`query_string`): the signature over the raw query. POST
binding (`content`): the enveloped XML signature, verified by signxml
(`gateway.saml.post_binding`). Then Issuer, Destination, time, InResponseTo ∈
`ids` and issued by a gateway of this store (the ID `saml_logout` recorded),
consumed once. It revokes nothing new: the session ended at `saml_logout`.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509

from gateway import responses
from gateway.es_slo_bodies import CompleteBody, parse_saml_complete
from gateway.http import Decision, Forward, Request, Respond, json_response
from gateway.logouts.family import RouteFamily
from gateway.logouts.kit import LogoutKit, LogoutResult
from gateway.logouts.request_body import BodyRefused, read_body
from gateway.logouts.saml import LOGOUT_REQUEST_TTL
from gateway.logouts.saml_idp import once_key, refuse
from gateway.routes import SAML_COMPLETE
from gateway.saml.idp_keys import verify_redirect
from gateway.saml.post_binding import decode_post_message, verify_enveloped
from gateway.saml.redirect_binding import inflate_b64
from gateway.saml.slo_messages import (
    MAX_XML_BYTES,
    SUCCESS,
    IdpLogoutResponse,
    check_message,
    parse_logout_response,
)
from gateway.store import StoreError

COMPLETED_SCOPE = "saml_logout_completed"


class SamlComplete(RouteFamily):
    routes = (SAML_COMPLETE,)

    def __init__(self, kit: LogoutKit, idp_certificates: Sequence[x509.Certificate]) -> None:
        self.kit = kit
        self.certificates = tuple(idp_certificates)

    def claims(self, route: str, req: Request) -> bool:
        return req.method == "POST"

    def reads_body(self, route: str, req: Request) -> bool:
        return True

    async def handle(self, route: str, req: Request) -> Decision:
        kit = self.kit
        try:
            body = await read_body(kit, req, SAML_COMPLETE, parse_saml_complete)
        except BodyRefused as bad_body:
            return bad_body.answer
        now = kit.clock()
        try:
            msg = self._verified_response(body, now)
        except ValueError as exc:  # SignatureError, SAMLMessageError, inflate errors
            return await refuse(kit, req, SAML_COMPLETE, f"SAML LogoutResponse refused: {exc}")
        in_response_to = msg.in_response_to
        if in_response_to is None:
            return await refuse(kit, req, SAML_COMPLETE, "LogoutResponse has no InResponseTo")
        if in_response_to not in body.ids:
            why = "LogoutResponse InResponseTo is not one of the given ids"
            return await refuse(kit, req, SAML_COMPLETE, why)
        short_circuit = kit.mode(SAML_COMPLETE) == "short_circuit"
        try:
            # In forward mode the upstream issued the request and checks this itself.
            if short_circuit and await kit.store.logout_request(in_response_to, now) is None:
                why = "LogoutResponse answers no LogoutRequest a gateway of this store issued"
                return await refuse(kit, req, SAML_COMPLETE, why)
            if msg.status != SUCCESS:
                # Audited with the IdP's status code (SPEC §10.3); the ID stays
                # unconsumed, a later Success may still complete the logout.
                why = f"IdP status {msg.status_text()}"
                return await refuse(kit, req, SAML_COMPLETE, why)
            first = await kit.store.claim_once(
                COMPLETED_SCOPE,
                once_key(in_response_to),
                now + LOGOUT_REQUEST_TTL + kit.config.saml.clock_skew,
                now,
            )
        except StoreError as exc:
            return await kit.store_failed_logout(req, SAML_COMPLETE, "idp", exc)
        if not first:
            why = "this logout was already completed (LogoutResponse replayed)"
            return await refuse(kit, req, SAML_COMPLETE, why)

        answer: Respond | None = json_response(200, {}) if short_circuit else None
        done = LogoutResult("success", ())
        if not await kit.audit_logout(
            req, SAML_COMPLETE, "idp", done, answer.status if answer else None
        ):
            return responses.audit_unavailable()
        return answer if answer is not None else Forward(route=SAML_COMPLETE)

    def _verified_response(self, body: CompleteBody, now: float) -> IdpLogoutResponse:
        """Signature first, in either binding: nothing unauthenticated is parsed
        beyond what refusing DTDs needs."""
        saml = self.kit.config.saml
        if body.query_string is not None:
            params = verify_redirect(body.query_string, self.certificates)
            if "SAMLResponse" not in params:
                raise ValueError("the query carries no SAMLResponse")
            xml = inflate_b64(params["SAMLResponse"], max_bytes=MAX_XML_BYTES)
        else:
            assert body.content is not None  # parse_saml_complete: exactly one binding
            xml = verify_enveloped(
                decode_post_message(body.content, max_xml_bytes=MAX_XML_BYTES), self.certificates
            )
        msg = parse_logout_response(xml)
        assert saml.idp_entity_id is not None  # required while the route is active
        check_message(
            msg,
            idp_entity_id=saml.idp_entity_id,
            sp_slo_url=saml.sp_slo_url,
            now=now,
            clock_skew=saml.clock_skew,
        )
        return msg
