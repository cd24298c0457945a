"""Learning Elasticsearch token pairs from the traffic the gateway forwards
(SPEC §5), and refusing revoked refresh tokens on the token API.

`POST /_security/saml/authenticate` answered 200: the pair is recorded with the
username, realm and the NameID/SessionIndex of the posted SAML Response (the
upstream already validated it; we only read it, with defusedxml). A refresh on
`POST /_security/oauth2/token` answered 200: the new pair inherits the old
pair's metadata, and the lineage, so a later logout kills them all.
`POST /_security/oidc/authenticate` answered 200 (SPEC §10.4): the pair with the
username, realm and the OP's issuer, subject and session id from the answer
(`gateway.oidc.learn`), listed under them for back-channel logouts.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from gateway import responses
from gateway.bodies import body_problem
from gateway.config import Config
from gateway.credentials import TOKEN, Credential, CredentialReader, Fingerprinter
from gateway.es_bodies import TokenPair, refresh_tokens, saml_content, token_pair
from gateway.http import FORWARD, Decision, Forward, Request, Response
from gateway.oidc.learn import oidc_login
from gateway.principals import oidc_keys, principal_keys, saml_keys
from gateway.saml.learn import SAMLIdentity, SAMLParseError, parse_saml_response
from gateway.store import IndexEntry, Store, StoreError, TokenRecord

log = logging.getLogger("gateway")

# Elasticsearch token APIs whose traffic the gateway learns from (SPEC §5).
AUTHENTICATE_PATH = "/_security/saml/authenticate"
OIDC_AUTHENTICATE_PATH = "/_security/oidc/authenticate"
TOKEN_PATH = "/_security/oauth2/token"  # noqa: S105 - a path, not a secret
# Learning reads the upstream's answer: ask for it uncompressed.
LEARNING_FORWARD = Forward(drop_headers=("accept-encoding",))

MAX_LINEAGE = 100  # fingerprints of superseded pairs kept per session


# The engine's enforcement, for a request plus credentials read from its body.
Enforce = Callable[[Request, Sequence[Credential]], Awaitable[Decision]]


class TokenLearning:
    def __init__(
        self,
        config: Config,
        store: Store,
        credentials: CredentialReader,
        fingerprint: Fingerprinter,
        clock: Callable[[], float],
        enforce: Enforce,
    ) -> None:
        self.config = config
        self.store = store
        self.credentials = credentials
        self.fingerprint = fingerprint
        self.clock = clock
        self.enforce = enforce

    async def token_request(self, req: Request) -> Decision:
        """`POST /_security/oauth2/token`: a revoked refresh token never reaches
        the upstream. Its body must be readable for that, so an encoded,
        oversized or non-JSON body is refused rather than waved through."""
        problem = body_problem(req, self.config.limits.max_body_bytes)
        if problem is not None:
            return responses.es_error(problem.status, problem.error_type, problem.reason)
        body = req.body or b""
        content_type = (req.header("content-type") or "").lower()
        if body.strip() and content_type and "json" not in content_type:
            return responses.es_error(
                415, "illegal_argument_exception", "this gateway accepts JSON token requests only"
            )
        values = refresh_tokens(body)
        if values is None:
            # Unreadable here means unchecked: refuse, never forward it.
            return responses.es_error(
                400, "parse_exception", "request body is not JSON this gateway can read"
            )
        extra = [
            cred for value in values for cred in self.credentials.token(value, "refresh_token")
        ]
        decision = await self.enforce(req, extra)
        return LEARNING_FORWARD if decision is FORWARD else decision

    def _readable(self, resp: Response) -> bool:
        encoding = resp.header_all("content-encoding")
        if encoding and any(e.strip().lower() != "identity" for e in encoding):
            log.warning("token answer is compressed (%s); nothing learned", encoding[0])
            return False
        return True

    async def learn_authenticate(self, req: Request, resp: Response) -> None:
        if not self._readable(resp):
            return
        pair = token_pair(resp.body)
        if pair is None:
            return
        limit = self.config.limits.max_body_bytes
        body = req.body
        if body is None or len(body) > limit or req.header("content-encoding"):
            # SPEC §5: forwarded untouched, nothing learned, never blocks a login.
            log.warning(
                "SAML authenticate body not readable or over %d bytes; nothing learned", limit
            )
            return
        identity = SAMLIdentity(None, None)
        content = saml_content(body)
        if content is not None:
            try:
                identity = parse_saml_response(content, max_xml_bytes=max(limit * 2, 1024))
            except SAMLParseError as exc:
                log.warning(
                    "SAML Response not readable (%s); its logout redirect will be null", exc
                )
        now = self.clock()
        access_fp, refresh_fp = self._fingerprints(pair)
        name_id = identity.name_id
        record = TokenRecord(
            access_fp=access_fp,
            refresh_fp=refresh_fp,
            session_id=secrets.token_hex(16),
            expires_at=now + self.config.tokens.max_lifetime,
            username=pair.username,
            realm=pair.realm,
            name_id=name_id.value if name_id else None,
            name_id_format=name_id.format if name_id else None,
            name_qualifier=name_id.name_qualifier if name_id else None,
            sp_name_qualifier=name_id.sp_name_qualifier if name_id else None,
            session_index=identity.session_index,
        )
        await self._record(record)

    async def learn_oidc_authenticate(self, resp: Response) -> None:
        """Everything is in the answer; the request (a redirect URI with the OP's
        code or ID token, state, nonce) is the upstream's business."""
        if not self._readable(resp):
            return
        login = oidc_login(resp.body, self.config.oidc.principal_claim)
        if login is None:
            return
        now = self.clock()
        access_fp, refresh_fp = self._fingerprints(login.pair)
        record = TokenRecord(
            access_fp=access_fp,
            refresh_fp=refresh_fp,
            session_id=secrets.token_hex(16),
            expires_at=now + self.config.tokens.max_lifetime,
            username=login.pair.username,
            realm=login.pair.realm,
            oidc_issuer=login.issuer,
            oidc_sub=login.sub,
            oidc_sid=login.sid,
        )
        await self._record(record)

    async def learn_refresh(self, req: Request, resp: Response) -> None:
        if not self._readable(resp):
            return
        pair = token_pair(resp.body)
        if pair is None:
            return
        now = self.clock()
        fp = self.fingerprint
        old: TokenRecord | None = None
        try:
            for value in refresh_tokens(req.body) or []:
                old = await self.store.get_token(fp(TOKEN, value), now)
                if old is not None:
                    break
        except StoreError as exc:
            log.warning("could not read the refreshed pair's record: %s", exc)
        access_fp, refresh_fp = self._fingerprints(pair)
        expires = now + self.config.tokens.max_lifetime
        if old is None:
            record = TokenRecord(access_fp, refresh_fp, secrets.token_hex(16), expires)
        else:
            record = replace(
                old,
                access_fp=access_fp,
                refresh_fp=refresh_fp,
                expires_at=max(expires, old.expires_at),
                related=old.fingerprints()[:MAX_LINEAGE],
            )
        await self._record(record)

    def _fingerprints(self, pair: TokenPair) -> tuple[str, str | None]:
        fp = self.fingerprint
        refresh = fp(TOKEN, pair.refresh_token) if pair.refresh_token else None
        return fp(TOKEN, pair.access_token), refresh

    async def _record(self, record: TokenRecord) -> None:
        try:
            await self.store.record_tokens(record)
            keys = principal_keys(self.fingerprint, record.username, record.realm)
            # A refreshed pair carries its login's OIDC identity (copied above), so
            # a back-channel logout finds every pair of the session.
            keys += oidc_keys(
                self.fingerprint, record.oidc_issuer, record.oidc_sub, record.oidc_sid
            )
            # And the SAML NameID/SessionIndex, for IdP-initiated logout (SPEC §10.2).
            keys += saml_keys(self.fingerprint, record.name_id, record.session_index)
            if keys:
                # So a logout naming the user, realm or SAML session (token API,
                # admin, IdP) finds this pair on any replica.
                entries = [
                    IndexEntry(fp, TOKEN, record.expires_at)
                    for fp in (record.access_fp, record.refresh_fp)
                    if fp
                ]
                await self.store.index_credentials(keys, entries)
        except StoreError as exc:
            # Learning never blocks a login; the tokens stay revocable by value.
            log.warning("could not record a learned token pair: %s", exc)
