"""The one store interface every backend implements (memory, sqlite, redis).

All methods are coroutines so that a network backend never blocks the event
loop; local backends answer from memory or with sub-millisecond SQLite reads
and push slow writes to a worker thread. Any backend failure is a
`StoreError`: callers must treat it as "maybe revoked", never as "not revoked".
"""

from __future__ import annotations

import abc
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields


class StoreError(Exception):
    """The store could not answer (unreachable, locked, failing)."""


class StoreCorrupt(StoreError):
    """The store's data cannot be trusted; raised at start-up, never papered over."""


class NotReplicated(StoreError):
    """A write reached fewer replicas than `store.min_replicas_ack` in time (SPEC §12).

    It is on the primary, but a failover could lose it: never report it as done."""


class KeyMismatch(StoreError):
    """This gateway's fingerprint key differs from the one the store was written with."""


@dataclass(frozen=True, slots=True)
class Revocation:
    fingerprint: str
    kind: str  # "session" | "token" | "jti"
    expires_at: float  # epoch seconds; after this the entry may be purged


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """A credential listed under an index key (a user, a realm, an SSO session)."""

    fingerprint: str
    kind: str  # as in Revocation
    expires_at: float  # when the credential would expire anyway


@dataclass(frozen=True, slots=True)
class LogoutRequestRecord:
    request_id: str
    session_id: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class SessionRecord:
    fingerprint: str
    created: float
    last_seen: float
    expires_at: float
    user: str | None = None


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What was learned about one access/refresh token pair (SPEC §5 learning).

    `session_id` names the SAML login the pair descends from (kept across
    refreshes); `related` holds the fingerprints of earlier pairs of that
    lineage, so a logout also kills tokens a refresh superseded but the
    upstream still honours until they expire.
    """

    access_fp: str | None
    refresh_fp: str | None
    session_id: str
    expires_at: float
    username: str | None = None
    realm: str | None = None
    name_id: str | None = None
    name_id_format: str | None = None
    name_qualifier: str | None = None
    sp_name_qualifier: str | None = None
    session_index: str | None = None
    related: tuple[str, ...] = ()
    # OpenID Connect logins (SPEC §10.4): the OP, subject and session the upstream's
    # realm reported, so refreshed pairs stay listed where a back-channel logout looks.
    oidc_issuer: str | None = None
    oidc_sub: str | None = None
    oidc_sid: str | None = None

    def fingerprints(self) -> tuple[str, ...]:
        own = tuple(fp for fp in (self.access_fp, self.refresh_fp) if fp)
        return own + tuple(fp for fp in self.related if fp not in own)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> TokenRecord:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["related"] = tuple(values.get("related") or ())
        return cls(**values)


class Store(abc.ABC):
    name: str = "store"

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect / create the schema; raises StoreCorrupt for unusable data."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def revoked(self, fingerprints: Sequence[str], now: float) -> frozenset[str]:
        """The subset of `fingerprints` that is revoked and not yet expired."""

    @abc.abstractmethod
    async def revoke(
        self,
        revocations: Sequence[Revocation],
        *,
        logout_request: LogoutRequestRecord | None = None,
    ) -> None:
        """Durably record revocations (an existing one keeps the later expiry),
        and, in the same write, the LogoutRequest ID a SAML logout issued."""

    @abc.abstractmethod
    async def record_session(self, session: SessionRecord) -> None:
        """Insert or refresh a learned session (created kept if already known)."""

    @abc.abstractmethod
    async def get_session(self, fingerprint: str, now: float) -> SessionRecord | None: ...

    @abc.abstractmethod
    async def touch_session(self, fingerprint: str, now: float) -> None: ...

    @abc.abstractmethod
    async def record_ticket(self, ticket_fp: str, session_fp: str, expires_at: float) -> None:
        """Service ticket → session, for CAS single logout by ticket.

        Written on every CAS login the gateway forwards; read only by
        `session_for_ticket`, which the CAS single-logout route (`cas_slo`,
        SPEC §10.1) calls when the CAS server names the ticket. In the shared
        store so that a replica that never saw the login finds it too."""

    @abc.abstractmethod
    async def session_for_ticket(self, ticket_fp: str, now: float) -> str | None: ...

    @abc.abstractmethod
    async def purge_expired(self, now: float) -> int:
        """Delete expired revocations, sessions and tickets; returns rows removed."""

    @abc.abstractmethod
    async def record_tokens(self, record: TokenRecord) -> None:
        """Index the record under its access and its refresh fingerprint."""

    @abc.abstractmethod
    async def get_token(self, fingerprint: str, now: float) -> TokenRecord | None:
        """The record learned for an access or refresh token, if not expired."""

    @abc.abstractmethod
    async def record_logout_request(
        self, request_id: str, session_id: str, expires_at: float
    ) -> None:
        """A LogoutRequest ID we issued, for checking the IdP's LogoutResponse later.

        Written by `saml_logout` (inside `revoke`, same write); read by
        `logout_request`, which `saml/complete_logout` (`saml_complete`,
        SPEC §10.3) calls to check that InResponseTo names an ID a gateway of
        this store issued."""

    @abc.abstractmethod
    async def logout_request(self, request_id: str, now: float) -> str | None:
        """The session id a still-valid issued LogoutRequest ID belongs to."""

    @abc.abstractmethod
    async def is_claimed(self, scope: str, key: str, now: float) -> bool:
        """Whether `(scope, key)` was claimed and is still remembered. A logout
        route checks this first, revokes, and claims last: a failure in between
        (503) then leaves no claim behind, so the sender's retry still works."""

    @abc.abstractmethod
    async def claim_once(self, scope: str, key: str, expires_at: float, now: float) -> bool:
        """True the first time `(scope, key)` is claimed (it is then remembered
        until `expires_at`), False while an earlier claim is still remembered.
        Atomic across replicas: of two gateways claiming the same key, one wins.
        For replay protection of one-time message IDs (SAML request/response
        IDs, OIDC logout-token `jti`, SPEC §10.2 to §10.4)."""

    @abc.abstractmethod
    async def index_credentials(self, keys: Sequence[str], entries: Sequence[IndexEntry]) -> None:
        """List `entries` under each of `keys` (an entry stays until its own
        expiry; listing it again keeps the later expiry). Keys are opaque
        strings the caller builds (`gateway.principals`)."""

    @abc.abstractmethod
    async def indexed_credentials(self, key: str, now: float) -> list[IndexEntry]:
        """The unexpired entries listed under `key`, revoked ones included (so a
        repeated revoke-by-user can tell "previously invalidated", SPEC §11)."""

    @abc.abstractmethod
    async def count_revoked(self, now: float) -> int:
        """How many revocations are live (not yet expired) at `now`: the
        `logout_gateway_live_revocations` gauge (SPEC §11). Off the hot path (a
        scrape, the status page); may be O(revocations) but must not block the
        event loop. Redis counts per minute of expiry, so a revocation may be
        counted until the end of the minute it expires in."""

    @abc.abstractmethod
    async def claim_meta(self, key: str, value: str) -> str:
        """Set `key` to `value` unless already set; return the stored value."""

    async def fingerprint_key(self, configured: str | None) -> bytes:
        """The HMAC key every gateway sharing this store fingerprints with.

        Set by config (`store.fingerprint_key`), or created by the first gateway
        and kept in the store itself, so replicas with separate state_dirs (or
        hosts) find the same one. A check value proves agreement either way.
        """
        if configured is not None:
            key = hashlib.sha256(b"logout-gateway fingerprint key\0" + configured.encode()).digest()
        else:
            stored = await self.claim_meta("fingerprint_key", secrets.token_hex(32))
            try:
                key = bytes.fromhex(stored)
            except ValueError as exc:
                raise StoreCorrupt(f"{self.name}: stored fingerprint key is not hex") from exc
        check = hmac.new(key, b"logout-gateway key check v1", hashlib.sha256).hexdigest()
        await self.check_fingerprint_key(check)
        return key

    async def check_fingerprint_key(self, check_value: str) -> None:
        stored = await self.claim_meta("fingerprint_key_check", check_value)
        if stored != check_value:
            raise KeyMismatch(
                f"{self.name}: this gateway's fingerprint key differs from the one the "
                "store was written with; replicas sharing a store must share the key "
                "(leave store.fingerprint_key unset on all of them, or set the same value)"
            )
