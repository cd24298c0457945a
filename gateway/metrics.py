"""What the gateway counts for `/metrics` and the status page (SPEC §11).

Plain Python ints and dicts, incremented where things happen: the request
hook counts its decision (`count_decision`), the audit path counts logouts,
revoked-credential uses and audit failures (`gateway.audit.counting`), the
store wrapper times store calls (`gateway.store.measured`). No lock, no label
lookup, no Prometheus object on the hot path: `gateway.admin.prometheus` turns
these numbers into Prometheus families only when `/metrics` is scraped. Every
writer runs on the event loop thread (the audit's worker threads never touch
them), so plain increments are safe.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable

from gateway.http import Decision, Forward

# `logout_gateway_requests_total{decision}`: what the gateway did with a request.
FORWARDED = "forwarded"  # sent on to the upstream (logouts in forward mode included)
ANSWERED = "answered"  # answered by the gateway itself: logouts, malformed requests
REFUSED = "refused"  # 401/403: a revoked or invalid credential, a refused source
UNAVAILABLE = "unavailable"  # 503: store or audit failing (fail closed)
ERROR = "error"  # 503 after an exception inside the gateway
DECISIONS = (FORWARDED, ANSWERED, REFUSED, UNAVAILABLE, ERROR)

# `logout_gateway_store_seconds` buckets (seconds): from a SQLite point read
# (~10 µs) to the Redis store's 0.5 s operation timeout.
STORE_SECONDS_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)


def decision_label(status: int) -> str:
    """The `decision` label of an answer the gateway gave itself."""
    if status in (401, 403):
        return REFUSED
    if status == 503:
        return UNAVAILABLE
    return ANSWERED


class Histogram:
    """Counts per bucket (the last one is +Inf) and the sum: cumulated only at
    scrape time."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(STORE_SECONDS_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bucket (`le`).
        self.counts[bisect_left(STORE_SECONDS_BUCKETS, seconds)] += 1
        self.total += seconds

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, int]]:
        """(`le`, cumulative count) pairs as Prometheus exposes them."""
        out, running = [], 0
        for bound, n in zip((*STORE_SECONDS_BUCKETS, None), self.counts, strict=True):
            running += n
            out.append(("+Inf" if bound is None else repr(bound), running))
        return out


class Metrics:
    """Counters since this process started."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.started = clock()
        self.forwarded = 0
        self.errors = 0
        self.answered: dict[int, int] = {}  # status → count; labelled at scrape time
        self.logouts: dict[tuple[str, str, str], int] = {}  # (route, reason, outcome)
        self.revoked_uses = 0
        self.audit_failures = 0
        # Why the last audit write failed, until one succeeds again (readiness).
        self.audit_problem: str | None = None
        self.store: dict[str, Histogram] = {}  # store operation → latency
        # Filled in before a scrape or a status page (a store count, cached).
        self.live_revocations: int | None = None

    # -- the request hook --------------------------------------------------

    def count_decision(self, decision: Decision) -> None:
        if isinstance(decision, Forward):
            self.forwarded += 1
            return
        status = decision.status
        self.answered[status] = self.answered.get(status, 0) + 1

    def count_error(self) -> None:
        self.errors += 1

    def decisions(self) -> dict[str, int]:
        out = dict.fromkeys(DECISIONS, 0)
        out[FORWARDED] = self.forwarded
        out[ERROR] = self.errors
        for status, n in self.answered.items():
            out[decision_label(status)] += n
        return out

    # -- the audit path ------------------------------------------------------

    def count_audit_event(
        self, event: str, route: str | None, reason: str | None, outcome: str | None
    ) -> None:
        if event == "logout":
            key = (route or "", reason or "", outcome or "")
            self.logouts[key] = self.logouts.get(key, 0) + 1
        elif event == "revoked_credential_use":
            self.revoked_uses += 1

    def audit_failed(self, why: str) -> None:
        self.audit_failures += 1
        self.audit_problem = why

    def audit_written(self) -> None:
        self.audit_problem = None

    # -- the store -----------------------------------------------------------

    def store_histogram(self, operation: str) -> Histogram:
        return self.store.setdefault(operation, Histogram())
