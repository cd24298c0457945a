"""The OpenID Connect Back-Channel Logout 1.0 receiver (route `oidc_backchannel`,
SPEC §10.4): the OP POSTs a signed logout token when a user's session ends there,
and the gateway revokes every token it learned for that session (`sid`), or, for a
token naming only the subject (`sub`), for every session of that user — on every
replica, since the lists live in the shared store. Neither Elasticsearch nor
oauth2-proxy (its issue #1224) has this.

    OP ──POST logout_token──▶ gateway: verify (gateway.oidc.logout_token)
                                      → jti never seen before (store.claim_once)
                                      → tokens listed under sid / sub → revoke
                                      → audit → 200 (Cache-Control: no-store)

Refusals are `400 {"error": "invalid_request", "error_description": …}` (§2.8),
audited as `invalid_request` with why, nothing revoked, never forwarded. The route
is active only once `oidc.issuer`, `client_id` and `jwks_file` are set.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from gateway import responses
from gateway.bodies import body_problem
from gateway.credentials import Credential
from gateway.http import NO_STORE, Decision, Forward, Request, Respond, json_response
from gateway.logouts.carried import refuse_revoked_carrier
from gateway.logouts.family import RouteFamily
from gateway.logouts.kit import LogoutKit
from gateway.logouts.once import remember_once
from gateway.oidc.logout_token import InvalidLogoutToken, LogoutToken, LogoutTokenVerifier
from gateway.principals import oidc_lookup_keys
from gateway.store import StoreError

log = logging.getLogger("gateway")

OIDC_BACKCHANNEL = "oidc_backchannel"
REASON = "backchannel"
JTI_SCOPE = "oidc-jti"  # store.claim_once scope
JTI_KIND = "oidc_jti"  # fingerprint kind of (iss, jti): bounded keys whatever the OP sends
FORM = "application/x-www-form-urlencoded"


class BadLogoutCall(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def refusal(status: int, description: str, headers: tuple[tuple[str, str], ...] = ()) -> Respond:
    return json_response(
        status, {"error": "invalid_request", "error_description": description}, headers
    )


class OidcBackchannel(RouteFamily):
    routes = (OIDC_BACKCHANNEL,)

    def __init__(self, kit: LogoutKit, verifier: LogoutTokenVerifier) -> None:
        self.kit = kit
        self.verifier = verifier

    def reads_body(self, route: str, req: Request) -> bool:
        return req.method == "POST"

    async def handle(self, route: str, req: Request) -> Decision:
        kit = self.kit
        if req.method != "POST":
            not_post = refusal(405, "use POST", (("allow", "POST"),))
            return await kit.invalid_request(req, OIDC_BACKCHANNEL, not_post, "method not POST")
        now = kit.clock()
        try:
            raw = self._logout_token(req)
            token = self.verifier.verify(raw, now=now)
        except BadLogoutCall as exc:
            bad = refusal(exc.status, exc.description)
            return await kit.invalid_request(req, OIDC_BACKCHANNEL, bad, exc.description)
        except InvalidLogoutToken as exc:
            why = f"logout token refused: {exc}"
            return await kit.invalid_request(req, OIDC_BACKCHANNEL, refusal(400, why), why)

        forward = kit.mode(OIDC_BACKCHANNEL) == "forward"
        try:
            if forward and (refused := await refuse_revoked_carrier(kit, req, OIDC_BACKCHANNEL)):
                return refused
            jti_key = kit.credentials.fingerprint(JTI_KIND, f"{token.issuer}\0{token.jti}")
            if await kit.store.is_claimed(JTI_SCOPE, jti_key, now):
                why = "logout token refused: jti already used (replay)"
                return await kit.invalid_request(req, OIDC_BACKCHANNEL, refusal(400, why), why)
            creds, user = await self._learned_tokens(token, now)
            done = await kit.revoke(creds)
        except StoreError as exc:
            return await kit.store_failed_logout(req, OIDC_BACKCHANNEL, REASON, exc)
        # The jti is claimed only once the logout is done: a failure above (503)
        # leaves no claim behind, so the OP's retry of the same token still works.
        await remember_once(kit, JTI_SCOPE, jti_key, token.remember_jti_until, now)

        answer: Respond | None = None if forward else Respond(200, NO_STORE)
        if not await kit.audit_logout(
            req, OIDC_BACKCHANNEL, REASON, done, None if answer is None else answer.status, user
        ):
            return responses.audit_unavailable()
        return answer if answer is not None else Forward(route=OIDC_BACKCHANNEL)

    def _logout_token(self, req: Request) -> str:
        """The one `logout_token` form field (§2.5); BadLogoutCall otherwise."""
        problem = body_problem(req, self.kit.config.limits.max_body_bytes)
        if problem is not None:
            raise BadLogoutCall(problem.status, problem.reason)
        content_type = (req.header("content-type") or "").split(";", 1)[0].strip().lower()
        if content_type != FORM:
            raise BadLogoutCall(400, f"Content-Type must be {FORM}")
        try:
            text = (req.body or b"").decode("ascii")
            form = parse_qs(text, keep_blank_values=True, strict_parsing=bool(text))
        except (UnicodeDecodeError, ValueError):
            raise BadLogoutCall(400, "body is not a form") from None
        values = form.get("logout_token", [])
        if len(values) != 1 or not values[0]:
            raise BadLogoutCall(400, "exactly one non-empty logout_token field is required")
        return values[0]

    async def _learned_tokens(
        self, token: LogoutToken, now: float
    ) -> tuple[list[Credential], str | None]:
        """Every credential listed for the token's session (or subject), and the user
        name learned with them (for the audit record)."""
        store = self.kit.store
        fp = self.kit.credentials.fingerprint
        seen: dict[str, Credential] = {}
        for key in oidc_lookup_keys(fp, token.issuer, sid=token.sid, sub=token.sub):
            for entry in await store.indexed_credentials(key, now):
                seen.setdefault(
                    entry.fingerprint, Credential(entry.kind, "indexed", entry.fingerprint)
                )
        user = None
        for cred in seen.values():
            record = await store.get_token(cred.fingerprint, now)
            if record is not None:
                user = record.username
                break
        return list(seen.values()), user
