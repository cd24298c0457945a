"""In-process store: for tests, `gateway replay` and single-process demos.

Nothing survives a restart, and replicas cannot share it.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.store.base import (
    IndexEntry,
    LogoutRequestRecord,
    Revocation,
    SessionRecord,
    Store,
    TokenRecord,
)


class MemoryStore(Store):
    name = "memory store"

    def __init__(self) -> None:
        self._revoked: dict[str, float] = {}
        self._sessions: dict[str, SessionRecord] = {}
        self._tickets: dict[str, tuple[str, float]] = {}
        self._meta: dict[str, str] = {}
        self._tokens: dict[str, TokenRecord] = {}
        self._logout_requests: dict[str, tuple[str, float]] = {}
        self._claims: dict[tuple[str, str], float] = {}
        self._index: dict[str, dict[str, IndexEntry]] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def revoked(self, fingerprints: Sequence[str], now: float) -> frozenset[str]:
        table = self._revoked
        return frozenset(fp for fp in fingerprints if table.get(fp, 0.0) > now)

    async def revoke(
        self,
        revocations: Sequence[Revocation],
        *,
        logout_request: LogoutRequestRecord | None = None,
    ) -> None:
        for r in revocations:
            if self._revoked.get(r.fingerprint, 0.0) < r.expires_at:
                self._revoked[r.fingerprint] = r.expires_at
        if logout_request is not None:
            await self.record_logout_request(
                logout_request.request_id, logout_request.session_id, logout_request.expires_at
            )

    async def record_session(self, session: SessionRecord) -> None:
        old = self._sessions.get(session.fingerprint)
        if old is not None:
            session = SessionRecord(
                session.fingerprint,
                old.created,
                session.last_seen,
                max(old.expires_at, session.expires_at),
                session.user or old.user,
            )
        self._sessions[session.fingerprint] = session

    async def get_session(self, fingerprint: str, now: float) -> SessionRecord | None:
        rec = self._sessions.get(fingerprint)
        return rec if rec is not None and rec.expires_at > now else None

    async def touch_session(self, fingerprint: str, now: float) -> None:
        rec = self._sessions.get(fingerprint)
        if rec is not None and now > rec.last_seen:
            self._sessions[fingerprint] = SessionRecord(
                rec.fingerprint, rec.created, now, rec.expires_at, rec.user
            )

    async def record_ticket(self, ticket_fp: str, session_fp: str, expires_at: float) -> None:
        self._tickets[ticket_fp] = (session_fp, expires_at)

    async def session_for_ticket(self, ticket_fp: str, now: float) -> str | None:
        entry = self._tickets.get(ticket_fp)
        return entry[0] if entry is not None and entry[1] > now else None

    async def purge_expired(self, now: float) -> int:
        removed = 0
        for table in (self._revoked,):
            dead = [k for k, exp in table.items() if exp <= now]
            for k in dead:
                del table[k]
            removed += len(dead)
        dead_s = [k for k, s in self._sessions.items() if s.expires_at <= now]
        for k in dead_s:
            del self._sessions[k]
        dead_t = [k for k, (_, exp) in self._tickets.items() if exp <= now]
        for k in dead_t:
            del self._tickets[k]
        dead_k = [k for k, rec in self._tokens.items() if rec.expires_at <= now]
        for k in dead_k:
            del self._tokens[k]
        dead_l = [k for k, (_, exp) in self._logout_requests.items() if exp <= now]
        for k in dead_l:
            del self._logout_requests[k]
        dead_c = [k for k, exp in self._claims.items() if exp <= now]
        for c in dead_c:
            del self._claims[c]
        dead_i = 0
        for key in list(self._index):
            entries = self._index[key]
            for fp in [fp for fp, e in entries.items() if e.expires_at <= now]:
                del entries[fp]
                dead_i += 1
            if not entries:
                del self._index[key]
        return (
            removed + len(dead_s) + len(dead_t) + len(dead_k) + len(dead_l) + len(dead_c) + dead_i
        )

    async def record_tokens(self, record: TokenRecord) -> None:
        for fp in (record.access_fp, record.refresh_fp):
            if fp:
                self._tokens[fp] = record

    async def get_token(self, fingerprint: str, now: float) -> TokenRecord | None:
        rec = self._tokens.get(fingerprint)
        return rec if rec is not None and rec.expires_at > now else None

    async def record_logout_request(
        self, request_id: str, session_id: str, expires_at: float
    ) -> None:
        self._logout_requests[request_id] = (session_id, expires_at)

    async def logout_request(self, request_id: str, now: float) -> str | None:
        entry = self._logout_requests.get(request_id)
        return entry[0] if entry is not None and entry[1] > now else None

    async def is_claimed(self, scope: str, key: str, now: float) -> bool:
        return self._claims.get((scope, key), 0.0) > now

    async def claim_once(self, scope: str, key: str, expires_at: float, now: float) -> bool:
        if self._claims.get((scope, key), 0.0) > now:
            return False
        self._claims[(scope, key)] = expires_at
        return True

    async def index_credentials(self, keys: Sequence[str], entries: Sequence[IndexEntry]) -> None:
        for key in keys:
            listed = self._index.setdefault(key, {})
            for e in entries:
                old = listed.get(e.fingerprint)
                if old is None or old.expires_at < e.expires_at:
                    listed[e.fingerprint] = e

    async def indexed_credentials(self, key: str, now: float) -> list[IndexEntry]:
        listed = self._index.get(key, {})
        return sorted((e for e in listed.values() if e.expires_at > now), key=_entry_order)

    async def count_revoked(self, now: float) -> int:
        return sum(1 for exp in self._revoked.values() if exp > now)

    async def claim_meta(self, key: str, value: str) -> str:
        return self._meta.setdefault(key, value)


def _entry_order(e: IndexEntry) -> tuple[str, str]:
    return (e.kind, e.fingerprint)
