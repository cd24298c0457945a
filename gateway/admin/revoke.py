"""Revoke a user, a session or a token on every replica (SPEC §11): the logic
`POST /-/revoke` and `gateway revoke` share.

* user: every credential learned for that user name (`gateway.principals.
  user_key`: token pairs from token learning, sessions from
  `sessions.user_header`), in the shared store, so credentials learned on any
  replica are found; the index keeps revoked ones until they expire, so a
  repeated call answers them as previously invalidated;
* session: that session id (deny-listed even when never seen, as an unknown
  token is on `saml_logout`);
* token: that access or refresh token, its pair and the whole refresh lineage
  learned with it, and a JWT's `(iss, jti)`.

Counts are Elasticsearch-style: sessions and tokens (access and refresh
separately); a JWT's `jti` entry is revoked but not counted again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from gateway.audit import AuditEvent
from gateway.config import Config
from gateway.credentials import JTI, SESSION, TOKEN, CredentialReader, Fingerprinter
from gateway.principals import user_key
from gateway.session_users import MAX_USER_CHARS
from gateway.store import Revocation, Store

ADMIN = "admin"  # the audit route and reason of an administrator's revocation
MAX_VALUE_CHARS = 8192  # a session id or token; longer is not one
MIN_REVOCATION_LIFE = 60.0  # as the logout routes: never revoke for less than a minute

TargetKind = Literal["user", "session", "token"]
TARGET_KINDS: tuple[TargetKind, ...] = ("user", "session", "token")


class RevokeRequestError(ValueError):
    """The request does not say what to revoke; the message says why (never
    quoting the values, which may be credentials)."""


@dataclass(frozen=True, slots=True)
class RevokeTarget:
    kind: TargetKind
    value: str  # a raw session id or token for those kinds: never logged

    def __repr__(self) -> str:
        shown = self.value if self.kind == "user" else "…"
        return f"RevokeTarget({self.kind}={shown!r})"


@dataclass(frozen=True, slots=True)
class RevokeResult:
    invalidated: int
    previously_invalidated: int
    fingerprints: tuple[str, ...]  # everything revoked (for the audit record)
    user: str | None  # the user named or learned, for the audit record

    @property
    def outcome(self) -> str:
        if not self.fingerprints:
            return "no_session"
        if self.invalidated == 0:
            return "already_revoked"
        return "success"

    def answer(self) -> dict[str, int]:
        return {
            "invalidated": self.invalidated,
            "previously_invalidated": self.previously_invalidated,
        }


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise RevokeRequestError("duplicate field")
    return dict(pairs)


def check_target(kind: str, value: object) -> RevokeTarget:
    """A target from a kind and a raw value, checked as a request body is."""
    if kind not in TARGET_KINDS:
        # The field name is not quoted back: a client may have put a credential there.
        raise RevokeRequestError("unknown field: expected exactly one of user, session, token")
    if not isinstance(value, str) or not value:
        raise RevokeRequestError(f"{kind} must be a non-empty string")
    limit = MAX_USER_CHARS if kind == "user" else MAX_VALUE_CHARS
    if len(value) > limit:
        raise RevokeRequestError(f"{kind} is longer than {limit} characters")
    if kind == "user" and not value.isprintable():
        raise RevokeRequestError("user must not contain control characters")
    return RevokeTarget(kind, value)  # type: ignore[arg-type]


def parse_revoke_body(body: bytes) -> RevokeTarget:
    """`{"user": str}` | `{"session": str}` | `{"token": str}`, nothing else."""
    try:
        data = json.loads(body, object_pairs_hook=_no_duplicates)
    except RevokeRequestError:
        raise
    except (ValueError, RecursionError):
        raise RevokeRequestError("body is not JSON") from None
    if not isinstance(data, dict):
        raise RevokeRequestError('body must be a JSON object: {"user"|"session"|"token": …}')
    if len(data) != 1:
        raise RevokeRequestError("exactly one of user, session, token is required")
    [(kind, value)] = data.items()
    return check_target(kind, value)


class Revoker:
    """Revokes what a target names, in the configured store. Raises StoreError
    (the caller answers 503: nothing may be reported as revoked)."""

    def __init__(
        self,
        config: Config,
        store: Store,
        fingerprint: Fingerprinter,
        credentials: CredentialReader,
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.store = store
        self.fingerprint = fingerprint
        self.credentials = credentials
        self.clock = clock

    async def revoke(self, target: RevokeTarget) -> RevokeResult:
        now = self.clock()
        floor = now + MIN_REVOCATION_LIFE
        # fingerprint → (kind, expiry); insertion order kept for the audit record.
        found: dict[str, tuple[str, float]] = {}
        user: str | None = None
        if target.kind == "user":
            user = target.value
            key = user_key(self.fingerprint, target.value)
            for entry in await self.store.indexed_credentials(key, now):
                found[entry.fingerprint] = (entry.kind, max(entry.expires_at, floor))
        elif target.kind == "session":
            fp = self.fingerprint(SESSION, target.value)
            session = await self.store.get_session(fp, now)
            expiry = now + self.config.sessions.max_lifetime
            if session is not None:
                user = session.user
                expiry = max(expiry, session.expires_at)
            found[fp] = (SESSION, expiry)
        else:
            lifetime = now + self.config.tokens.max_lifetime
            creds = self.credentials.token(target.value, "token")
            for cred in creds:
                # A JWT's revocation lives until its own `exp` (plus the skew).
                exp = cred.expires_at
                expiry = lifetime if exp is None else exp + self.config.saml.clock_skew
                found[cred.fingerprint] = (cred.kind, max(expiry, floor))
            record = await self.store.get_token(creds[0].fingerprint, now)
            if record is not None:
                user = record.username
                for fp in record.fingerprints():
                    found.setdefault(fp, (TOKEN, max(lifetime, record.expires_at)))
        if not found:
            return RevokeResult(0, 0, (), user)
        fps = list(found)
        already = await self.store.revoked(fps, now)
        await self.store.revoke([Revocation(fp, kind, exp) for fp, (kind, exp) in found.items()])
        counted = [fp for fp, (kind, _) in found.items() if kind != JTI]
        previously = sum(1 for fp in counted if fp in already)
        return RevokeResult(len(counted) - previously, previously, tuple(fps), user)


def revoke_audit_event(
    result: RevokeResult | None,
    *,
    status: int | None,
    client: str | None,
    request_id: str,
    user: str | None = None,
) -> AuditEvent:
    """The `logout` record of an administrator's revocation; `result` None: the
    store failed (outcome `error`, nothing reported as revoked). `status` None:
    no HTTP answer (`gateway revoke`)."""
    if result is None:
        return AuditEvent(
            event="logout",
            route=ADMIN,
            reason=ADMIN,
            outcome="error",
            status=status,
            client=client,
            user=user,
            request_id=request_id,
        )
    return AuditEvent(
        event="logout",
        route=ADMIN,
        reason=ADMIN,
        outcome=result.outcome,
        status=status,
        client=client,
        user=result.user,
        credentials=result.fingerprints,
        request_id=request_id,
    )
