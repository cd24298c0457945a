"""`DELETE /_security/oauth2/token` (route `token_invalidate`, SPEC §10.5):
Elasticsearch's invalidate-token API, called by clients and admins directly.
Only DELETE is this route; the refresh grant POSTs to the same path and stays
with token learning (`gateway.token_learning`).

* `{"token"}` | `{"refresh_token"}`: the caller holds the token, so the gateway
  revokes it at once (with its learned pair and lineage) and audits, then forwards
  (default) or answers Elasticsearch's counts itself (short_circuit).
* `{"realm_name"?, "username"?}`: names other people's tokens. Whether the caller
  may invalidate them is the upstream's decision (Elasticsearch checks the
  caller's privileges), so such a request is always forwarded, and the gateway
  revokes every token it learned for that user/realm only when the upstream's
  answer shows it was authorized (200, or 404: nothing left there). Revoking
  first would let any anonymous client log out a whole realm through the gateway.
* Malformed bodies: 400 Elasticsearch-style, audited, never forwarded.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from gateway import responses
from gateway.audit import AuditEvent
from gateway.credentials import TOKEN, Credential
from gateway.es_bodies import EsBodyError
from gateway.http import Decision, Forward, Request, Respond, Response, json_response
from gateway.logouts.carried import refuse_revoked_carrier
from gateway.logouts.family import RouteFamily
from gateway.logouts.kit import LogoutKit
from gateway.logouts.request_body import BodyRefused, read_body
from gateway.logouts.token_lineage import revoke_named
from gateway.principals import realm_key, realm_user_key, user_key
from gateway.store import StoreError
from gateway.token_api_bodies import InvalidateBody, parse_invalidate_token

log = logging.getLogger("gateway")

TOKEN_INVALIDATE = "token_invalidate"  # noqa: S105 - a route name, not a secret
REASON = "api"
# Answers that show the upstream let the caller invalidate (404: nothing was left).
AUTHORIZED = (200, 404)


class TokenInvalidate(RouteFamily):
    routes = (TOKEN_INVALIDATE,)

    def __init__(self, kit: LogoutKit) -> None:
        self.kit = kit

    def claims(self, route: str, req: Request) -> bool:
        return req.method == "DELETE"

    def reads_body(self, route: str, req: Request) -> bool:
        return True

    def wants_answer(self, route: str, method: str) -> bool:
        return method == "DELETE"

    async def handle(self, route: str, req: Request) -> Decision:
        kit = self.kit
        try:
            body = await read_body(kit, req, TOKEN_INVALIDATE, parse_invalidate_token)
        except BodyRefused as bad_body:
            return bad_body.answer
        if body.token is None:
            # The caller's credentials are the authority for this one: never a revoked one.
            try:
                refused = await refuse_revoked_carrier(kit, req, TOKEN_INVALIDATE)
            except StoreError as exc:
                return await kit.store_failed_logout(req, TOKEN_INVALIDATE, REASON, exc)
            if refused is not None:
                return refused
            # Revoked when the upstream answers (`upstream_answered`), audited then.
            log.info("token_invalidate by user/realm forwarded; revoked once the upstream agrees")
            return Forward(route=TOKEN_INVALIDATE)
        return await self._by_token(req, body.token, body.token_field or "token")

    async def _by_token(self, req: Request, token: str, field: str) -> Decision:
        kit = self.kit
        now = kit.clock()
        forward = kit.mode(TOKEN_INVALIDATE) == "forward"
        try:
            revoked = await revoke_named(
                kit, req, TOKEN_INVALIDATE, [(token, field)], now, forward=forward
            )
        except StoreError as exc:
            return await kit.store_failed_logout(req, TOKEN_INVALIDATE, REASON, exc)
        if isinstance(revoked, Respond):
            return revoked
        logout, revoked_before, done = revoked.logout, revoked.revoked_before, revoked.done
        outcome = done.outcome
        answer: Respond | None = None
        if not forward:
            tokens = [c.fingerprint for c in logout.creds if c.kind == TOKEN]
            before = sum(fp in revoked_before for fp in tokens)
            if outcome == "unknown_token":
                # Elasticsearch: an unknown token is a 404 with zero counts.
                answer = _counts(404, 0, 0)
            else:
                answer = _counts(200, len(tokens) - before, before)
        user = logout.record.username if logout.record is not None else None
        if not await kit.audit_logout(
            req, TOKEN_INVALIDATE, REASON, done, answer.status if answer else None, user=user
        ):
            return responses.audit_unavailable()
        return answer if answer is not None else Forward(route=TOKEN_INVALIDATE)

    async def upstream_answered(self, route: str, req: Request, resp: Response) -> None:
        try:
            body = parse_invalidate_token(req.body)
        except EsBodyError:
            return  # refused at the request, never forwarded
        if body.token is not None:
            return  # revoked and audited before forwarding
        kit = self.kit
        event = AuditEvent(
            event="logout",
            route=TOKEN_INVALIDATE,
            reason=REASON,
            status=resp.status,
            client=req.client,
            user=body.username,
            request_id=req.request_id,
            forwarded=True,
        )
        if resp.status not in AUTHORIZED:
            # Not allowed, or failed, upstream: nothing is revoked here either.
            await kit.audit_quietly(
                replace(
                    event,
                    event="invalid_request",
                    reason=f"upstream refused the invalidation ({resp.status}); nothing revoked",
                    outcome="rejected",
                )
            )
            return
        try:
            creds = await self._principal_tokens(body)
            done = await kit.revoke(creds)
        except StoreError as exc:
            # The upstream already invalidated them: its own check refuses them
            # from now on. Said loudly all the same.
            log.error("token_invalidate: upstream invalidated, local revocation failed: %s", exc)
            await kit.audit_quietly(replace(event, outcome="error"))
            return
        log.info(
            "logout route=%s reason=%s outcome=%s status=%s credentials=%s",
            TOKEN_INVALIDATE,
            REASON,
            done.outcome,
            resp.status,
            ",".join(done.fingerprints) or "-",
        )
        await kit.audit_quietly(replace(event, outcome=done.outcome, credentials=done.fingerprints))

    async def _principal_tokens(self, body: InvalidateBody) -> list[Credential]:
        """Every token learned for the user (in the realm) or the realm, revoked
        ones included (so the outcome can say already_revoked)."""
        fp = self.kit.credentials.fingerprint
        if body.realm_name is not None and body.username is not None:
            key = realm_user_key(fp, body.realm_name, body.username)
        elif body.username is not None:
            key = user_key(fp, body.username)
        else:
            assert body.realm_name is not None  # the parser guarantees one of them
            key = realm_key(fp, body.realm_name)
        entries = await self.kit.store.indexed_credentials(key, self.kit.clock())
        return [Credential(TOKEN, "indexed", e.fingerprint) for e in entries if e.kind == TOKEN]


def _counts(status: int, invalidated: int, previously: int) -> Respond:
    """Elasticsearch's invalidate-token answer."""
    return json_response(
        status,
        {
            "invalidated_tokens": invalidated,
            "previously_invalidated_tokens": previously,
            "error_count": 0,
        },
    )
