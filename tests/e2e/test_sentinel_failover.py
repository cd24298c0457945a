"""Redis Sentinel failover under a stream of logouts, with real processes on
loopback (SPEC §12, issue 17): a primary, two replicas (with
min_replicas_ack: 1 one must remain after the failover to acknowledge), three
sentinels, two `gateway run` replicas and the demo upstream.

The primary is killed with SIGKILL while both gateways answer logouts (and,
as a second case, a sentinel is told SENTINEL FAILOVER: the old primary stays
up, writable, until Sentinel demotes it, as an isolated primary is during a
network partition). What must hold: every logout answered 200 is still enforced (401) through both
gateways after the failover (with min_replicas_ack: 1, asserted; with 0 the
losses are counted and printed, as docs/reliability.md reports); a revoked
session never reaches the upstream, not even during the switch; the same
gateway processes serve again afterwards. Waits are generous and bounded; no
assertion is about time.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from procs import Gateway, Upstream, login, request, running_gateway, write_config
from redis_sentinel_setup import SentinelSetup

pytestmark = pytest.mark.slow

API = "/web/api/v2/clusters"
REVOKED = {"error": "credential_revoked"}


def cookie(sid: str) -> dict[str, str]:
    return {"Cookie": f"JSESSIONID={sid}"}


def upstream_fingerprint(raw: str) -> str:
    """How scripts/demo_upstream.py logs a cookie value."""
    return hashlib.sha256(raw.encode("latin-1")).hexdigest()[:16]


def gateway_config(tmp_path: Path, name: str, upstream: Upstream, setup: SentinelSetup, acks: int):
    folder = tmp_path / name
    folder.mkdir()
    store = {
        "backend": "redis",
        # Sentinel names the primary; the URL's host:port is never used.
        "redis_url": "redis://127.0.0.1:1/0",
        "redis_sentinel": {"hosts": setup.hosts(), "service": setup.service},
        "min_replicas_ack": acks,
        "on_error": "deny",
    }
    return write_config(folder, upstream.url, store=store)


@dataclass
class Stream:
    """Logouts through one gateway, each session used right after through the other."""

    gateway: Gateway
    other: Gateway
    logouts: list[tuple[str, int]] = field(default_factory=list)  # (sid, status)
    probes: list[int] = field(default_factory=list)  # the revoked session used at once
    errors: list[BaseException] = field(default_factory=list)

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                sid = login(self.gateway.port)  # no credential: forwarded even mid-switch
                status = request(self.gateway.port, "POST", "/cas/logout", cookie(sid))[0]
                self.logouts.append((sid, status))
                if status == 200:
                    # Refused (401), or 503 while the store switches: never forwarded.
                    self.probes.append(request(self.other.port, "GET", API, cookie(sid))[0])
                time.sleep(0.01)
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)

    def ok_since(self, index: int) -> int:
        return sum(1 for _, status in self.logouts[index:] if status == 200)


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {timeout:.0f} s")


@pytest.fixture
def sentinel_setup(tmp_path) -> Iterator[SentinelSetup]:
    setup = SentinelSetup(tmp_path / "redis", replicas=2, sentinels=3)
    try:
        yield setup
    finally:
        setup.stop()


def audit_outcomes(path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["event"] == "logout":
            counts[record["outcome"]] = counts.get(record["outcome"], 0) + 1
    return counts


def switch_primary(setup: SentinelSetup, how: str) -> None:
    if how == "kill -9":
        setup.primary.kill()  # SIGKILL: no goodbye to replicas, sentinels or gateways
    elif how == "SENTINEL FAILOVER":
        # A planned switch: the old primary is demoted only when Sentinel next
        # looks at it; until then it still takes writes nobody will keep.
        setup.sentinels[0].command("SENTINEL", "FAILOVER", setup.service)
    else:
        # README's runbook for a planned switch: every client of the old primary
        # paused first (reads too: a gateway still reading there after another
        # one revoked on the new primary would let the session through).
        setup.primary.command("CLIENT", "PAUSE", "15000", "ALL")
        setup.sentinels[0].command("SENTINEL", "FAILOVER", setup.service)


# What each case asserts (the rest is printed, and reported in docs/reliability.md):
# kill -9 is SPEC §12's promise; an unprepared SENTINEL FAILOVER shows the limit of
# asynchronous replication (the old primary keeps a replica acknowledging writes
# until Sentinel moves it); "paused FAILOVER" is README's runbook for a planned switch.
CASES = [
    ("kill -9", 1),
    ("kill -9", 0),
    ("SENTINEL FAILOVER", 1),
    ("SENTINEL FAILOVER", 0),
    ("paused FAILOVER", 1),
]


@pytest.mark.timeout(400)
@pytest.mark.parametrize(("how", "acks"), CASES)
def test_primary_switch_under_a_stream_of_logouts(tmp_path, upstream, sentinel_setup, how, acks):
    setup = sentinel_setup
    with (
        running_gateway(gateway_config(tmp_path, "a", upstream, setup, acks)) as a,
        running_gateway(gateway_config(tmp_path, "b", upstream, setup, acks)) as b,
    ):
        streams = [Stream(a, b), Stream(b, a)]
        stop = threading.Event()
        threads = [threading.Thread(target=s.run, args=(stop,), daemon=True) for s in streams]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: all(s.ok_since(0) >= 10 for s in streams), 60, "logouts before")
            old_primary = setup.primary.port
            switch_primary(setup, how)
            killed_at = [len(s.logouts) for s in streams]
            killed_t = time.monotonic()
            setup.wait_failover(replicas_in_sync=1 if acks else 0)
            failover_s = time.monotonic() - killed_t
            # Both gateways recover by themselves (no restart) and acknowledge again.
            switched_at = [len(s.logouts) for s in streams]
            wait_until(
                lambda: all(s.ok_since(i) >= 10 for s, i in zip(streams, switched_at, strict=True)),
                120,
                "logouts answered 200 after the failover on both gateways",
            )
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        for s in streams:
            assert not s.errors, s.errors

        logouts = [entry for s in streams for entry in s.logouts]
        done = [sid for sid, status in logouts if status == 200]
        refused = [sid for sid, status in logouts if status == 503]
        assert {status for _, status in logouts} <= {200, 503}
        probes = [p for s in streams for p in s.probes]
        # What reached the upstream before the checks below (which may forward a lost one).
        seen_upstream = {fp for entry in upstream.requests() for fp in entry["cookies"].values()}
        leaked = [sid for sid in done if upstream_fingerprint(sid) in seen_upstream]

        # After the failover: every acknowledged logout, through both gateways.
        lost = []
        for sid in done:
            for gw in (a, b):
                status, _, body = request(gw.port, "GET", API, cookie(sid))
                if status != 401:
                    lost.append((sid, gw.port, status))
                else:
                    assert json.loads(body) == REVOKED
        # The same processes, still serving.
        assert a.proc.proc.poll() is None and b.proc.proc.poll() is None
        outcomes = {
            name: audit_outcomes(tmp_path / name / "state" / "audit.jsonl") for name in "ab"
        }
        lost_sids = {sid for sid, _, _ in lost}
        print(
            f"\n{how}, min_replicas_ack={acks}: primary {old_primary} switched after "
            f"{sum(killed_at)} logouts; sentinels named {setup.primary.port} after "
            f"{failover_s:.1f} s; {len(logouts)} logouts through 2 gateways: "
            f"{len(done)} answered 200, {len(refused)} answered 503 during the switch "
            f"(audit outcomes {outcomes}); acknowledged revocations lost after the "
            f"failover: {len(lost_sids)} ({len(lost)} requests let through); revoked sessions "
            f"used at once through the other gateway: {probes.count(401)} refused, "
            f"{probes.count(503)} 503, {probes.count(200)} forwarded; seen by the upstream "
            f"during the stream: {len(leaked)}"
        )
        # Which mechanism moved the pools after a planned switch (the Sentinel
        # watch's "reconnecting", or redis-py re-resolving on a READONLY error)
        # depends on timing; what must hold is asserted above and below.
        if how != "SENTINEL FAILOVER":
            # During the switch a revoked session got 401 or 503: never the upstream.
            assert set(probes) <= {401, 503} and not leaked, probes
            if acks:
                assert not lost  # SPEC §12: with min_replicas_ack: 1, none is lost


def test_frozen_replicas_refuse_the_logout_with_acks_and_not_without(
    tmp_path, upstream, redis_sentinel_setup
):
    """Loopback replication is too fast to lose anything by chance: freezing the
    replica (SIGSTOP) shows that WAIT is really there. With min_replicas_ack: 1
    the logout is 503 and audited not_replicated; with 0 it is done (and would
    be lost if the primary died now)."""
    setup = redis_sentinel_setup
    setup.primary.flush()
    with (
        running_gateway(gateway_config(tmp_path, "acks1", upstream, setup, 1)) as safe,
        running_gateway(gateway_config(tmp_path, "acks0", upstream, setup, 0)) as fast,
    ):
        sid_safe, sid_fast = login(safe.port), login(fast.port)
        for replica in setup.replicas:
            replica.freeze()
        try:
            status, _, body = request(safe.port, "POST", "/cas/logout", cookie(sid_safe))
            assert (status, json.loads(body)) == (503, {"error": "store_unavailable"})
            assert request(fast.port, "POST", "/cas/logout", cookie(sid_fast))[0] == 200
        finally:
            for replica in setup.replicas:
                replica.thaw()
        wait_until(
            lambda: request(safe.port, "POST", "/cas/logout", cookie(sid_safe))[0] == 200,
            60,
            "an acknowledged logout once the replica is back",
        )
        for gw in (safe, fast):
            for sid in (sid_safe, sid_fast):
                assert request(gw.port, "GET", API, cookie(sid))[0] == 401
    records = [
        json.loads(x)
        for x in (tmp_path / "acks1" / "state" / "audit.jsonl").read_text().splitlines()
    ]
    logouts = [(r["outcome"], r["status"]) for r in records if r["event"] == "logout"]
    assert logouts[0] == ("not_replicated", 503)
    assert logouts[-1] == ("already_revoked", 200)
    assert "logout could not revoke (not_replicated)" in safe.proc.text
