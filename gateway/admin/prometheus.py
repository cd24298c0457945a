"""`GET /metrics`: the counters of `gateway.metrics` as Prometheus text, through
`prometheus_client` (SPEC §11 names).

A custom collector reads the plain counters only when scraped, so counting on
the hot path never touches a Prometheus object, lock or label lookup. Its own
registry (not the library's global one): two runtimes in one process (tests,
a config reload under mitmdump) never collide, and nothing else registers
into it. The process collector adds the usual `process_*` figures.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import CollectorRegistry

from gateway.metrics import Metrics

__all__ = ["CONTENT_TYPE", "make_registry", "render"]

# The classic text format every Prometheus (and every other scraper) reads; what
# prometheus_client itself answers a scraper that asks for nothing newer. All
# our names are plain `[a-z_]`, so the newer format would say the same.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class GatewayCollector:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        requests = CounterMetricFamily(
            "logout_gateway_requests",
            "Requests the gateway decided, by decision: forwarded, answered (by the "
            "gateway itself), refused (401/403), unavailable (503 store/audit), error.",
            labels=["decision"],
        )
        for decision, n in m.decisions().items():
            requests.add_metric([decision], n)
        yield requests

        logouts = CounterMetricFamily(
            "logout_gateway_logouts",
            "Logouts, by route, reason and outcome (as audited).",
            labels=["route", "reason", "outcome"],
        )
        for (route, reason, outcome), n in sorted(m.logouts.items()):
            logouts.add_metric([route, reason, outcome], n)
        yield logouts

        yield CounterMetricFamily(
            "logout_gateway_revoked_uses",
            "Requests refused because they carried a revoked credential.",
            value=m.revoked_uses,
        )

        store = HistogramMetricFamily(
            "logout_gateway_store_seconds",
            "Store call latency in seconds, by operation.",
            labels=["operation"],
        )
        for operation, histogram in sorted(m.store.items()):
            store.add_metric([operation], histogram.cumulative(), histogram.total)
        yield store

        yield CounterMetricFamily(
            "logout_gateway_audit_failures",
            "Audit records that could not be written.",
            value=m.audit_failures,
        )

        live = GaugeMetricFamily(
            "logout_gateway_live_revocations",
            "Revocations in the store not yet expired (all replicas; refreshed at most "
            "every few seconds).",
        )
        if m.live_revocations is not None:  # absent while the store cannot count
            live.add_metric([], m.live_revocations)
        yield live


def make_registry(metrics: Metrics) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(GatewayCollector(metrics))
    ProcessCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
