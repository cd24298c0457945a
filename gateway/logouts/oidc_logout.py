"""`POST /_security/oidc/logout` (route `oidc_logout`, SPEC §10.4), the logout API
of an Elasticsearch OIDC realm: revoke the access token, its refresh token and the
learned lineage, then forward (default: the upstream invalidates too and answers
with the OP redirect carrying its `id_token_hint`), or answer with the
RP-initiated logout redirect to `oidc.end_session_url` (short_circuit).
"""

from __future__ import annotations

from gateway import responses
from gateway.http import Decision, Forward, Request, Respond, json_response
from gateway.logouts.family import RouteFamily
from gateway.logouts.kit import LogoutKit
from gateway.logouts.request_body import BodyRefused, read_body
from gateway.logouts.token_lineage import MixedSessions, revoke_named
from gateway.oidc.end_session import end_session_redirect
from gateway.store import StoreError
from gateway.token_api_bodies import parse_oidc_logout

OIDC_LOGOUT = "oidc_logout"


class OidcLogout(RouteFamily):
    routes = (OIDC_LOGOUT,)

    def __init__(self, kit: LogoutKit) -> None:
        self.kit = kit

    def reads_body(self, route: str, req: Request) -> bool:
        return True

    async def handle(self, route: str, req: Request) -> Decision:
        kit = self.kit
        try:
            body = await read_body(kit, req, OIDC_LOGOUT, parse_oidc_logout)
        except BodyRefused as bad_body:
            return bad_body.answer

        now = kit.clock()
        forward = kit.mode(OIDC_LOGOUT) == "forward"
        tokens = [(body.token, "token")]
        if body.refresh_token:
            tokens.append((body.refresh_token, "refresh_token"))
        try:
            revoked = await revoke_named(kit, req, OIDC_LOGOUT, tokens, now, forward=forward)
        except MixedSessions:
            reason = "the refresh token does not belong to the access token's session"
            refusal = responses.es_error(400, "illegal_argument_exception", reason)
            return await kit.invalid_request(req, OIDC_LOGOUT, refusal, reason)
        except StoreError as exc:
            return await kit.store_failed_logout(req, OIDC_LOGOUT, "manual", exc)
        if isinstance(revoked, Respond):
            return revoked
        logout, done = revoked.logout, revoked.done

        answer: Respond | None = None
        if not forward:
            oidc = kit.config.oidc
            assert oidc.end_session_url is not None  # required in this mode (config)
            location = end_session_redirect(
                oidc.end_session_url,
                client_id=oidc.client_id,
                post_logout_redirect_url=oidc.post_logout_redirect_url,
            )
            # The OP session ends whatever the gateway knew about the token.
            answer = json_response(200, {"redirect": location})
        user = logout.record.username if logout.record is not None else None
        if not await kit.audit_logout(
            req, OIDC_LOGOUT, "manual", done, answer.status if answer else None, user=user
        ):
            return responses.audit_unavailable()
        return answer if answer is not None else Forward(route=OIDC_LOGOUT)
