"""Issue 11 (hardening), in the core: each test is named after its item.

Item 1: revoked session ids in the URL; item 4: flood control (the 413/415
audit is in test_engine_saml.py). (Items 2, 3 and 6 are in tests/addon and
tests/e2e, where the processes and the addon are.)
"""

from __future__ import annotations

import asyncio
import json

import pytest
from gwtest import KEY, Clock, audit_records, make_gateway, req

from gateway.audit import AuditEvent, AuditLog, verify
from gateway.audit.flood import FloodLimitedAudit, credential_free
from gateway.credentials import SESSION, Fingerprinter, url_session_ids
from gateway.http import Forward, Respond

FP = Fingerprinter(KEY)
NAMES = {"jsessionid": "JSESSIONID"}


def run(coro):
    return asyncio.run(coro)


# --------------------------------------------------------------------------- item 1


@pytest.mark.parametrize(
    ("path", "query", "found"),
    [
        ("/web/api;jsessionid=ABC", "", [("JSESSIONID", "ABC")]),
        ("/web/api;JSESSIONID=ABC", "", [("JSESSIONID", "ABC")]),
        ("/web;JSessionId=ABC/api", "", [("JSESSIONID", "ABC")]),  # any segment
        ("/web/api;foo=1;jsessionid=ABC", "", [("JSESSIONID", "ABC")]),
        ("/web/api", "jsessionid=ABC", [("JSESSIONID", "ABC")]),
        ("/web/api", "a=1&JSESSIONID=ABC", [("JSESSIONID", "ABC")]),
        ("/web/api", "%6Asessionid=ABC", [("JSESSIONID", "ABC")]),  # escaped name
        # escaped value: as sent and as a container would decode it
        ("/web/api;jsessionid=AB%43", "", [("JSESSIONID", "AB%43"), ("JSESSIONID", "ABC")]),
        ("/web/api", "jsessionid=A+B", [("JSESSIONID", "A+B"), ("JSESSIONID", "A B")]),
        ("/web/api;other=ABC", "other=ABC", []),
        ("/web/api;jsessionid", "jsessionid", []),  # no value
        ("/web/api;jsessionid=", "jsessionid=", []),
    ],
)
def test_item1_url_session_ids_are_found(path, query, found):
    assert url_session_ids(path, query, NAMES) == found


@pytest.mark.parametrize(
    "target",
    [
        "/web/api;jsessionid=sess-1",
        "/web/api;JSESSIONID=sess-1",
        "/web/api?jsessionid=sess-1",
        "/web;jsessionid=sess-1/api/v2/clusters",
        "/web/api?x=1&JSessionID=sess-1",
    ],
)
def test_item1_revoked_session_in_url_is_refused_not_forwarded(tmp_path, target):
    gw = make_gateway(tmp_path)
    run(gw.handle_request(req("POST", "/cas/logout", {"Cookie": "JSESSIONID=sess-1"})))
    answer = run(gw.handle_request(req("GET", target)))
    assert isinstance(answer, Respond) and answer.status == 401
    assert json.loads(answer.body) == {"error": "credential_revoked"}
    recs = audit_records(tmp_path / "audit.jsonl")
    assert recs[-1]["event"] == "revoked_credential_use"
    assert recs[-1]["credentials"] == [FP(SESSION, "sess-1")]
    assert "sess-1" not in (tmp_path / "audit.jsonl").read_text()


def test_item1_logout_carrying_a_url_session_revokes_it(tmp_path):
    gw = make_gateway(tmp_path)
    answer = run(gw.handle_request(req("POST", "/cas/logout;jsessionid=sess-2")))
    assert isinstance(answer, Respond) and answer.status == 200
    recs = audit_records(tmp_path / "audit.jsonl")
    assert recs[0]["outcome"] == "success" and recs[0]["credentials"] == [FP(SESSION, "sess-2")]
    for headers in ({"Cookie": "JSESSIONID=sess-2"}, {}):
        target = "/web/api" if headers else "/web/api?jsessionid=sess-2"
        again = run(gw.handle_request(req("GET", target, headers)))
        assert isinstance(again, Respond) and again.status == 401
    # the logout_action route reads them too
    run(gw.handle_request(req("GET", "/web/v1/logout_action;jsessionid=sess-3")))
    again = run(gw.handle_request(req("GET", "/x", {"Cookie": "JSESSIONID=sess-3"})))
    assert isinstance(again, Respond) and again.status == 401


def test_item1_url_parameters_false_leaves_urls_alone(tmp_path):
    gw = make_gateway(tmp_path, sessions={"url_parameters": False})
    run(gw.handle_request(req("POST", "/cas/logout", {"Cookie": "JSESSIONID=sess-1"})))
    assert run(gw.handle_request(req("GET", "/web/api;jsessionid=sess-1"))) == Forward()


def test_item1_unrevoked_url_session_is_forwarded_untouched(tmp_path):
    gw = make_gateway(tmp_path)
    assert run(gw.handle_request(req("GET", "/web/api;jsessionid=fresh?a=1"))) == Forward()


# --------------------------------------------------------------------------- item 4


class Collect:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    async def write(self, ev: AuditEvent) -> dict[str, object]:
        self.events.append(ev)
        return {}


def no_session(client: str = "198.51.100.9") -> AuditEvent:
    return AuditEvent(event="logout", route="cas_logout", outcome="no_session", client=client)


def test_item4_which_records_are_flood_limited():
    assert credential_free(no_session())
    assert credential_free(AuditEvent(event="invalid_request", client="x"))
    assert not credential_free(
        AuditEvent(event="logout", outcome="success", credentials=("ab" * 16,))
    )
    assert not credential_free(AuditEvent(event="revoked_credential_use", credentials=("ab",)))
    assert not credential_free(AuditEvent(event="gateway_error"))


def test_item4_flood_counts_above_the_limit_and_summarises_per_client_and_minute():
    clock = Clock(1_800_000_000.0 - 1_800_000_000.0 % 60)
    inner = Collect()
    flood = FloodLimitedAudit(inner, 3, clock)

    async def go():
        for _ in range(10):
            await flood.write(no_session("198.51.100.9"))
        await flood.write(no_session("198.51.100.10"))  # another client has its own budget
        revoking = AuditEvent(
            event="logout", outcome="success", client="198.51.100.9", credentials=("f" * 32,)
        )
        await flood.write(revoking)  # never suppressed
        clock.now += 60
        await flood.write(no_session("198.51.100.9"))  # next minute: summary first

    run(go())
    kinds = [(e.event, e.client, e.count) for e in inner.events]
    assert kinds == [
        *[("logout", "198.51.100.9", None)] * 3,
        ("logout", "198.51.100.10", None),
        ("logout", "198.51.100.9", None),  # the revoking one
        ("suppressed", "198.51.100.9", 7),
        ("logout", "198.51.100.9", None),
    ]
    assert flood.suppressed_total == 7


def test_item4_flood_summary_written_at_close_and_chain_verifies(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl", fsync=False)
    log.open()
    flood = FloodLimitedAudit(log, 2)

    async def go():
        for _ in range(5):
            await flood.write(AuditEvent(event="invalid_request", client="203.0.113.5"))
        await flood.close()

    run(go())
    log.close()
    recs = audit_records(tmp_path / "audit.jsonl")
    assert [r["event"] for r in recs] == ["invalid_request", "invalid_request", "suppressed"]
    assert recs[-1]["count"] == 3 and recs[-1]["client"] == "203.0.113.5"
    assert list(recs[-1])[-2:] == ["count", "prev"]
    assert verify([tmp_path / "audit.jsonl"]).ok


def test_item4_verify_refuses_count_on_other_records(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl", fsync=False)
    with log:
        log.write_sync(AuditEvent(event="logout", count=2))
    result = verify([tmp_path / "audit.jsonl"])
    assert not result.ok and "count is only allowed on suppressed records" in (result.error or "")
