"""Issue 15: the counters behind /metrics, the counting audit writer, the timed
store, and the Prometheus text they become (SPEC §11 names)."""

from __future__ import annotations

import asyncio
import inspect

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.admin.prometheus import make_registry, render
from gateway.audit import AuditError, AuditEvent, CountingAudit
from gateway.http import FORWARD, Forward, Respond
from gateway.metrics import STORE_SECONDS_BUCKETS, Histogram, Metrics
from gateway.store import MeasuredStore, Revocation, SessionRecord, Store, StoreError
from gateway.store.measured import REVOKED_SAMPLE
from gateway.store.memory import MemoryStore


def run(coro):
    return asyncio.run(coro)


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = render(make_registry(metrics)).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("logout_gateway_"):
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_decisions_are_labelled_at_scrape_time():
    m = Metrics()
    for decision in (FORWARD, Forward(route="cas_logout"), Forward(query="a=1")):
        m.count_decision(decision)
    for status in (200, 302, 400, 413, 401, 401, 403, 503):
        m.count_decision(Respond(status))
    m.count_error()
    assert m.decisions() == {
        "forwarded": 3,
        "answered": 4,
        "refused": 3,
        "unavailable": 1,
        "error": 1,
    }


def test_histogram_buckets_are_le_and_cumulative():
    h = Histogram()
    for seconds in (0.00001, 0.0001, 0.0002, 0.003, 5.0):
        h.observe(seconds)
    assert h.count == 5 and h.total == pytest.approx(5.00331)
    cumulative = dict(h.cumulative())
    assert cumulative["0.0001"] == 2  # 0.0001 itself is `le` 0.0001
    assert cumulative["0.00025"] == 3
    assert cumulative["0.005"] == 4
    assert cumulative["1.0"] == 4
    assert cumulative["+Inf"] == 5
    assert list(cumulative) == [*map(repr, STORE_SECONDS_BUCKETS), "+Inf"]


class FailingAudit:
    async def write(self, ev: AuditEvent) -> dict[str, object]:
        raise AuditError("disk full")


class SuppressingAudit:
    async def write(self, ev: AuditEvent) -> dict[str, object]:
        return {"event": ev.event, "suppressed": True}


class OkAudit:
    async def write(self, ev: AuditEvent) -> dict[str, object]:
        return {"event": ev.event}


def test_counting_audit_counts_logouts_and_revoked_uses():
    m = Metrics()
    audit = CountingAudit(OkAudit(), m)
    run(audit.write(AuditEvent("logout", "cas_logout", "manual", "success")))
    run(audit.write(AuditEvent("logout", "cas_logout", "manual", "success")))
    run(audit.write(AuditEvent("logout", "logout_action", "timeout", "no_session")))
    run(audit.write(AuditEvent("revoked_credential_use", outcome="rejected")))
    run(audit.write(AuditEvent("invalid_request", "admin", "wrong admin token", "rejected")))
    assert m.logouts == {
        ("cas_logout", "manual", "success"): 2,
        ("logout_action", "timeout", "no_session"): 1,
    }
    assert m.revoked_uses == 1 and m.audit_failures == 0 and m.audit_problem is None


def test_counting_audit_counts_failures_and_reraises():
    m = Metrics()
    with pytest.raises(AuditError, match="disk full"):
        run(CountingAudit(FailingAudit(), m).write(AuditEvent("logout", "x", "manual", "success")))
    # the logout happened (it revoked) even though its record failed
    assert m.logouts == {("x", "manual", "success"): 1}
    assert m.audit_failures == 1 and m.audit_problem == "disk full"
    # a record the flood limiter did not write says nothing about the file
    run(CountingAudit(SuppressingAudit(), m).write(AuditEvent("invalid_request")))
    assert m.audit_problem == "disk full"
    run(CountingAudit(OkAudit(), m).write(AuditEvent("invalid_request")))
    assert m.audit_problem is None


def test_measured_store_overrides_every_store_method():
    abstract = set(Store.__abstractmethods__)
    own = {name for name, _ in inspect.getmembers(MeasuredStore) if name in abstract}
    assert own == abstract
    assert not MeasuredStore.__abstractmethods__


def test_measured_store_delegates_and_times_each_operation():
    m = Metrics()
    store = MeasuredStore(MemoryStore(), m)

    async def go():
        await store.open()
        await store.revoke([Revocation("ab" * 16, "session", 2e9)])
        for _ in range(2 * REVOKED_SAMPLE):  # the hot-path lookup is sampled
            assert await store.revoked(["ab" * 16, "cd" * 16], 1e9) == {"ab" * 16}
        await store.record_session(SessionRecord("cd" * 16, 1e9, 1e9, 2e9, "bob"))
        assert (await store.get_session("cd" * 16, 1e9)).user == "bob"
        assert await store.count_revoked(1e9) == 1
        assert store.name == "memory store"
        await store.close()

    run(go())
    counts = {op: h.count for op, h in m.store.items()}
    assert counts == {
        "revoked": 2,
        "revoke": 1,
        "record_session": 1,
        "get_session": 1,
        "count_revoked": 1,
    }


def test_measured_store_times_failures_too():
    class Broken(MemoryStore):
        async def revoked(self, fingerprints, now):
            raise StoreError("down")

    m = Metrics()
    store = MeasuredStore(Broken(), m)
    for _ in range(REVOKED_SAMPLE):
        with pytest.raises(StoreError):
            run(store.revoked(["ab" * 16], 0))
    assert m.store["revoked"].count == 1


def test_the_hot_path_lookup_is_sampled_and_unsampled_calls_are_the_inner_coroutine():
    m = Metrics()
    inner = MemoryStore()
    store = MeasuredStore(inner, m)
    for i in range(1, 3 * REVOKED_SAMPLE + 1):
        call = store.revoked(["ab" * 16], 0)
        # unsampled: the inner store's own coroutine, no wrapper around it
        assert (call.cr_code is MemoryStore.revoked.__code__) == (i % REVOKED_SAMPLE != 0)
        run(call)
    assert m.store["revoked"].count == 3


def test_prometheus_text_has_the_spec_names_and_exact_values():
    m = Metrics()
    for d in (FORWARD, FORWARD, Respond(200), Respond(401)):
        m.count_decision(d)
    m.logouts[("cas_logout", "manual", "success")] = 2
    m.logouts[("admin", "admin", "already_revoked")] = 1
    m.revoked_uses = 1
    m.audit_failures = 3
    m.store_histogram("revoked").observe(0.0003)
    m.live_revocations = 7
    got = samples(m)
    assert got[("logout_gateway_requests_total", (("decision", "forwarded"),))] == 2
    assert got[("logout_gateway_requests_total", (("decision", "answered"),))] == 1
    assert got[("logout_gateway_requests_total", (("decision", "refused"),))] == 1
    assert got[("logout_gateway_requests_total", (("decision", "unavailable"),))] == 0
    assert got[("logout_gateway_requests_total", (("decision", "error"),))] == 0
    labels = (("outcome", "success"), ("reason", "manual"), ("route", "cas_logout"))
    assert got[("logout_gateway_logouts_total", labels)] == 2
    labels = (("outcome", "already_revoked"), ("reason", "admin"), ("route", "admin"))
    assert got[("logout_gateway_logouts_total", labels)] == 1
    assert got[("logout_gateway_revoked_uses_total", ())] == 1
    assert got[("logout_gateway_audit_failures_total", ())] == 3
    assert got[("logout_gateway_live_revocations", ())] == 7
    op = (("operation", "revoked"),)
    assert got[("logout_gateway_store_seconds_count", op)] == 1
    assert got[("logout_gateway_store_seconds_sum", op)] == pytest.approx(0.0003)
    assert got[("logout_gateway_store_seconds_bucket", (("le", "0.0005"), *op))] == 1
    assert got[("logout_gateway_store_seconds_bucket", (("le", "0.00025"), *op))] == 0


def test_live_revocations_gauge_is_absent_when_unknown():
    got = samples(Metrics())
    assert not any(name == "logout_gateway_live_revocations" for name, _ in got)
    text = render(make_registry(Metrics())).decode()
    assert "# TYPE logout_gateway_live_revocations gauge" in text


def test_two_registries_in_one_process_do_not_collide():
    a, b = Metrics(), Metrics()
    a.revoked_uses = 5
    assert samples(a)[("logout_gateway_revoked_uses_total", ())] == 5
    assert samples(b)[("logout_gateway_revoked_uses_total", ())] == 0
