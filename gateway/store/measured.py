"""Any store, timed: `logout_gateway_store_seconds{operation}` (SPEC §11).

A Store in front of another that delegates every call and records its wall
time (success or failure: a slow failing store is what the histogram must
show) in `gateway.metrics` histograms, one per operation.

The hot path's lookup (`revoked`, on every request that carries a credential)
is sampled: one call in REVOKED_SAMPLE is timed, the others are the inner
store's own coroutine, handed back without a wrapper (no extra coroutine, no
clock read). The `revoked` histogram is therefore a sample: its distribution
is the lookup latency, its `_count` is the number of sampled calls (requests
are counted by `logout_gateway_requests_total`). Every other operation is
timed on every call. scripts/bench measures the cost (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine, Sequence
from time import perf_counter
from typing import Any, TypeVar

from gateway.metrics import Histogram, Metrics
from gateway.store.base import (
    IndexEntry,
    LogoutRequestRecord,
    Revocation,
    SessionRecord,
    Store,
    TokenRecord,
)

T = TypeVar("T")

REVOKED_SAMPLE = 16  # a power of two: one `revoked` call in this many is timed


class MeasuredStore(Store):
    def __init__(self, inner: Store, metrics: Metrics) -> None:
        self.inner = inner
        self.name = inner.name
        self._metrics = metrics
        self._revoked = metrics.store_histogram("revoked")
        self._revoked_calls = 0

    async def _timed(self, operation: str, call: Awaitable[T]) -> T:
        histogram: Histogram = self._metrics.store_histogram(operation)
        start = perf_counter()
        try:
            return await call
        finally:
            histogram.observe(perf_counter() - start)

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    def revoked(
        self, fingerprints: Sequence[str], now: float
    ) -> Coroutine[Any, Any, frozenset[str]]:
        # Not `async`: the unsampled calls return the inner coroutine itself.
        self._revoked_calls += 1
        if self._revoked_calls & (REVOKED_SAMPLE - 1):
            return self.inner.revoked(fingerprints, now)
        return self._timed_revoked(fingerprints, now)

    async def _timed_revoked(self, fingerprints: Sequence[str], now: float) -> frozenset[str]:
        start = perf_counter()
        try:
            return await self.inner.revoked(fingerprints, now)
        finally:
            self._revoked.observe(perf_counter() - start)

    async def revoke(
        self,
        revocations: Sequence[Revocation],
        *,
        logout_request: LogoutRequestRecord | None = None,
    ) -> None:
        await self._timed("revoke", self.inner.revoke(revocations, logout_request=logout_request))

    async def record_session(self, session: SessionRecord) -> None:
        await self._timed("record_session", self.inner.record_session(session))

    async def get_session(self, fingerprint: str, now: float) -> SessionRecord | None:
        return await self._timed("get_session", self.inner.get_session(fingerprint, now))

    async def touch_session(self, fingerprint: str, now: float) -> None:
        await self._timed("touch_session", self.inner.touch_session(fingerprint, now))

    async def record_ticket(self, ticket_fp: str, session_fp: str, expires_at: float) -> None:
        await self._timed(
            "record_ticket", self.inner.record_ticket(ticket_fp, session_fp, expires_at)
        )

    async def session_for_ticket(self, ticket_fp: str, now: float) -> str | None:
        return await self._timed(
            "session_for_ticket", self.inner.session_for_ticket(ticket_fp, now)
        )

    async def purge_expired(self, now: float) -> int:
        return await self._timed("purge_expired", self.inner.purge_expired(now))

    async def record_tokens(self, record: TokenRecord) -> None:
        await self._timed("record_tokens", self.inner.record_tokens(record))

    async def get_token(self, fingerprint: str, now: float) -> TokenRecord | None:
        return await self._timed("get_token", self.inner.get_token(fingerprint, now))

    async def record_logout_request(
        self, request_id: str, session_id: str, expires_at: float
    ) -> None:
        await self._timed(
            "record_logout_request",
            self.inner.record_logout_request(request_id, session_id, expires_at),
        )

    async def logout_request(self, request_id: str, now: float) -> str | None:
        return await self._timed("logout_request", self.inner.logout_request(request_id, now))

    async def is_claimed(self, scope: str, key: str, now: float) -> bool:
        return await self._timed("is_claimed", self.inner.is_claimed(scope, key, now))

    async def claim_once(self, scope: str, key: str, expires_at: float, now: float) -> bool:
        return await self._timed("claim_once", self.inner.claim_once(scope, key, expires_at, now))

    async def index_credentials(self, keys: Sequence[str], entries: Sequence[IndexEntry]) -> None:
        await self._timed("index_credentials", self.inner.index_credentials(keys, entries))

    async def indexed_credentials(self, key: str, now: float) -> list[IndexEntry]:
        return await self._timed("indexed_credentials", self.inner.indexed_credentials(key, now))

    async def count_revoked(self, now: float) -> int:
        return await self._timed("count_revoked", self.inner.count_revoked(now))

    async def claim_meta(self, key: str, value: str) -> str:
        return await self._timed("claim_meta", self.inner.claim_meta(key, value))
