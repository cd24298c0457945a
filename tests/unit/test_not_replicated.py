"""A revocation the replicas did not acknowledge (store.min_replicas_ack, SPEC §12,
issue 17): the logout answers 503, is never reported as done, and the audit
record and log line say why. The write itself is on the primary, so the
credential is refused meanwhile; real Redis processes show the same in
tests/store/test_redis_replication.py and tests/e2e/test_sentinel_failover.py."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import pytest
from gwtest import Clock, audit_records, make_gateway, req, run

from gateway.http import Forward, Response
from gateway.store import LogoutRequestRecord, NotReplicated, Revocation
from gateway.store.memory import MemoryStore

COOKIE = {"Cookie": "JSESSIONID=sess-nr"}


class UnreplicatedStore(MemoryStore):
    """Writes land (as on a primary) but are never acknowledged by a replica."""

    def __init__(self) -> None:
        super().__init__()
        self.replicas_ack = False

    async def revoke(
        self,
        revocations: Sequence[Revocation],
        *,
        logout_request: LogoutRequestRecord | None = None,
    ) -> None:
        await super().revoke(revocations, logout_request=logout_request)
        if not self.replicas_ack:
            raise NotReplicated("redis store: the write reached 0 of 1 replica(s) within 400 ms")


@pytest.mark.parametrize("on_error", ["deny", "allow"])
def test_cas_logout_answers_503_and_audits_not_replicated(tmp_path, caplog, on_error):
    store = UnreplicatedStore()
    gw = make_gateway(tmp_path, backend=store, store={"backend": "memory", "on_error": on_error})
    with caplog.at_level(logging.ERROR, logger="gateway"):
        answer = run(gw.handle_request(req("POST", "/cas/logout", COOKIE)))
    assert answer.status == 503 and json.loads(answer.body) == {"error": "store_unavailable"}
    rec = audit_records(tmp_path / "audit.jsonl")[-1]
    assert (rec["event"], rec["route"], rec["reason"], rec["outcome"], rec["status"]) == (
        "logout",
        "cas_logout",
        "manual",
        "not_replicated",
        503,
    )
    assert "not_replicated" in caplog.text and "0 of 1 replica(s)" in caplog.text
    # On the primary already: refused meanwhile, whatever on_error says.
    assert run(gw.handle_request(req("GET", "/web/api", COOKIE))).status == 401
    # Replicas back: the client's retry is a done logout.
    store.replicas_ack = True
    assert run(gw.handle_request(req("POST", "/cas/logout", COOKIE))).status == 200
    assert audit_records(tmp_path / "audit.jsonl")[-1]["outcome"] == "already_revoked"


def test_timeout_logout_keeps_its_reason(tmp_path):
    gw = make_gateway(tmp_path, backend=UnreplicatedStore())
    target = "/web/v1/logout_action?is_timeout_logout=true"
    assert run(gw.handle_request(req("GET", target, COOKIE))).status == 503
    rec = audit_records(tmp_path / "audit.jsonl")[-1]
    assert (rec["route"], rec["reason"], rec["outcome"]) == (
        "logout_action",
        "timeout",
        "not_replicated",
    )


def test_idle_session_is_never_forwarded_when_its_revocation_is_not_replicated(tmp_path):
    clock = Clock()
    gw = make_gateway(
        tmp_path,
        backend=UnreplicatedStore(),
        clock=clock,
        sessions={"idle_timeout": "10m"},
        store={"backend": "memory", "on_error": "allow"},
    )
    learned = Response(302, (("set-cookie", "JSESSIONID=idle-nr"),))
    run(gw.handle_response(req("GET", "/web/?ticket=ST-9"), learned))
    idle = {"Cookie": "JSESSIONID=idle-nr"}
    assert run(gw.handle_request(req("GET", "/web/api", idle))) == Forward()
    clock.now += 601
    answer = run(gw.handle_request(req("GET", "/web/api", idle)))
    assert answer.status == 503 and json.loads(answer.body) == {"error": "store_unavailable"}
