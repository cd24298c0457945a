"""The core's decisions, with a memory store and a real audit file."""

from __future__ import annotations

import asyncio
import json

import pytest
from gwtest import KEY, Clock, audit_records, make_gateway, req

from gateway.audit import AuditError
from gateway.credentials import SESSION, TICKET, Fingerprinter
from gateway.http import Forward, Respond, Response
from gateway.store import StoreError
from gateway.store.memory import MemoryStore

FP = Fingerprinter(KEY)
COOKIE = {"Cookie": "JSESSIONID=sess-1"}


def run(coro):
    return asyncio.run(coro)


def headers(answer: Respond, name: str) -> list[str]:
    return [v for k, v in answer.headers if k == name]


@pytest.fixture
def gw(tmp_path):
    return make_gateway(tmp_path)


def test_request_without_credentials_is_forwarded(gw):
    assert run(gw.handle_request(req("GET", "/web/api"))) == Forward()


def test_unrevoked_session_is_forwarded(gw):
    assert run(gw.handle_request(req("GET", "/web/api", COOKIE))) == Forward()


def test_cas_logout_short_circuit_then_reuse_refused(gw, tmp_path):
    answer = run(gw.handle_request(req("POST", "/cas/logout", COOKIE)))
    assert isinstance(answer, Respond)
    assert answer.status == 200 and json.loads(answer.body) == {}
    assert headers(answer, "cache-control") == ["no-store"]
    assert headers(answer, "content-type") == ["application/json"]
    assert headers(answer, "set-cookie")[0].startswith("JSESSIONID=; Path=/; Max-Age=0")
    again = run(gw.handle_request(req("GET", "/web/api", COOKIE)))
    assert isinstance(again, Respond) and again.status == 401
    assert json.loads(again.body) == {"error": "credential_revoked"}
    assert headers(again, "www-authenticate") == []
    assert headers(again, "set-cookie")[0].startswith("JSESSIONID=;")
    recs = audit_records(tmp_path / "audit.jsonl")
    assert [(r["event"], r["route"], r["reason"], r["outcome"], r["status"]) for r in recs] == [
        ("logout", "cas_logout", "manual", "success", 200),
        ("revoked_credential_use", None, None, "rejected", 401),
    ]
    assert recs[0]["credentials"] == [FP(SESSION, "sess-1")]
    assert recs[0]["client"] == "192.0.2.7"
    assert "sess-1" not in (tmp_path / "audit.jsonl").read_text()


def test_cas_logout_revokes_bearer_too_and_401_names_it(gw):
    h = {"Cookie": "JSESSIONID=s2", "Authorization": "Bearer tok-1"}
    run(gw.handle_request(req("POST", "/cas/logout", h)))
    answer = run(gw.handle_request(req("GET", "/x", {"authorization": "bearer tok-1"})))
    assert answer.status == 401
    assert headers(answer, "www-authenticate") == ['Bearer error="invalid_token"']
    assert headers(answer, "set-cookie") == []


def test_logout_without_credentials_is_still_a_logout(gw, tmp_path):
    answer = run(gw.handle_request(req("POST", "/cas/logout")))
    assert answer.status == 200
    assert audit_records(tmp_path / "audit.jsonl")[0]["outcome"] == "no_session"


def test_logout_is_idempotent_with_revoked_credentials(gw, tmp_path):
    run(gw.handle_request(req("POST", "/cas/logout", COOKIE)))
    answer = run(gw.handle_request(req("POST", "/cas/logout", COOKIE)))
    assert answer.status == 200
    assert audit_records(tmp_path / "audit.jsonl")[1]["outcome"] == "already_revoked"


def test_revoked_cookie_hidden_among_valid_ones_is_refused(gw):
    run(gw.handle_request(req("POST", "/cas/logout", {"Cookie": "JSESSIONID=bad"})))
    sneaky = [("Cookie", "a=1; JSESSIONID=good"), ("Cookie", "JSESSIONID=bad; b=2")]
    answer = run(gw.handle_request(req("GET", "/web/api", sneaky)))
    assert answer.status == 401


def test_cas_logout_forward_mode(tmp_path):
    gw = make_gateway(tmp_path, routes={"cas_logout": {"mode": "forward"}, "saml_logout": None})
    decision = run(gw.handle_request(req("POST", "/cas/logout", COOKIE)))
    assert decision == Forward(route="cas_logout")
    rec = audit_records(tmp_path / "audit.jsonl")[0]
    assert rec["status"] is None and rec["forwarded"] is True
    assert run(gw.handle_request(req("GET", "/web/api", COOKIE))).status == 401


@pytest.mark.parametrize(
    ("target", "expected_query"),
    [
        ("/cas/logout", None),
        ("/cas/logout?service=https%3A%2F%2Fapp.example.com%2Fweb%2F", None),
        ("/cas/logout?service=https%3A%2F%2Fevil.example%2F&x=1", "x=1"),
        ("/cas/logout?url=https%3A%2F%2Fapp.example.com%2F", ""),
        ("/cas/logout?service=https%3A%2F%2Fapp.example.com%2F&service=x", ""),
    ],
)
def test_cas_browser_logout_always_forwards_and_filters_service(
    gw, tmp_path, target, expected_query
):
    decision = run(gw.handle_request(req("GET", target, COOKIE)))
    assert isinstance(decision, Forward)
    assert decision.query == expected_query
    assert run(gw.handle_request(req("GET", "/web/api", COOKIE))).status == 401
    recs = audit_records(tmp_path / "audit.jsonl")
    assert recs[0]["event"] == "logout" and recs[0]["forwarded"] is True
    invalid = [r for r in recs if r["event"] == "invalid_request"]
    assert bool(invalid) == (
        "service=" in target and expected_query is not None and "url=" not in target
    )


@pytest.mark.parametrize(
    ("qs", "reason"),
    [
        ("", "manual"),
        ("?is_timeout_logout=null", "manual"),
        ("?is_timeout_logout=false", "manual"),
        ("?is_timeout_logout=", "manual"),
        ("?is_timeout_logout=garbage", "manual"),
        ("?is_timeout_logout=true&is_timeout_logout=true", "manual"),
        ("?is_timeout_logout=true", "timeout"),
        ("?is_timeout_logout=TRUE", "timeout"),
    ],
)
def test_logout_action_reason_and_redirect(gw, tmp_path, qs, reason):
    answer = run(gw.handle_request(req("GET", "/web/v1/logout_action" + qs, COOKIE)))
    expected = (
        "https://cas.example.com:20009/cas/logout?service=https%3A%2F%2Fapp.example.com%2Fweb%2F"
    )
    assert answer.status == 302
    assert headers(answer, "location") == [expected]
    assert json.loads(answer.body) == {"redirect": expected}
    assert headers(answer, "cache-control") == ["no-store"]
    rec = audit_records(tmp_path / "audit.jsonl")[0]
    assert (rec["route"], rec["reason"], rec["outcome"]) == ("logout_action", reason, "success")
    # the reason never changes what is revoked
    assert run(gw.handle_request(req("GET", "/web/api", COOKIE))).status == 401


def test_logout_action_without_service_url(tmp_path):
    gw = make_gateway(tmp_path, cas={"service_url": None})
    answer = run(gw.handle_request(req("GET", "/web/v1/logout_action")))
    assert headers(answer, "location") == ["https://cas.example.com:20009/cas/logout"]


def test_logout_action_forward_mode(tmp_path):
    gw = make_gateway(tmp_path, routes={"logout_action": {"mode": "forward"}, "saml_logout": None})
    decision = run(
        gw.handle_request(req("GET", "/web/v1/logout_action?is_timeout_logout=true", COOKIE))
    )
    assert decision == Forward(route="logout_action")
    rec = audit_records(tmp_path / "audit.jsonl")[0]
    assert (rec["reason"], rec["status"], rec["forwarded"]) == ("timeout", None, True)


def test_disabled_route_is_plain_traffic(tmp_path):
    gw = make_gateway(tmp_path, routes={"cas_logout": None, "saml_logout": None})
    assert run(gw.handle_request(req("POST", "/cas/logout", COOKIE))) == Forward()


class BrokenStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.broken = True

    async def revoked(self, fingerprints, now):
        if self.broken:
            raise StoreError("down")
        return await super().revoked(fingerprints, now)

    async def revoke(self, revocations):
        if self.broken:
            raise StoreError("down")
        return await super().revoke(revocations)


def test_store_failure_fails_closed(tmp_path):
    gw = make_gateway(tmp_path, backend=BrokenStore())
    answer = run(gw.handle_request(req("GET", "/web/api", COOKIE)))
    assert answer.status == 503 and json.loads(answer.body) == {"error": "store_unavailable"}
    # a request with no credential needs no check
    assert run(gw.handle_request(req("GET", "/web/api"))) == Forward()


def test_store_failure_with_on_error_allow_forwards_checks_but_never_logouts(tmp_path):
    gw = make_gateway(
        tmp_path, backend=BrokenStore(), store={"backend": "memory", "on_error": "allow"}
    )
    assert run(gw.handle_request(req("GET", "/web/api", COOKIE))) == Forward()
    answer = run(gw.handle_request(req("POST", "/cas/logout", COOKIE)))
    assert answer.status == 503
    rec = audit_records(tmp_path / "audit.jsonl")[-1]
    assert (rec["event"], rec["outcome"], rec["status"]) == ("logout", "error", 503)


def test_audit_failure_still_revokes_and_answers_503(tmp_path):
    gw = make_gateway(tmp_path)

    async def failing(ev):
        raise AuditError("disk full")

    gw.audit.write = failing  # type: ignore[method-assign]
    answer = run(gw.handle_request(req("POST", "/cas/logout", COOKIE)))
    assert answer.status == 503 and json.loads(answer.body) == {"error": "audit_unavailable"}
    refused = run(gw.handle_request(req("GET", "/web/api", COOKIE)))
    assert refused.status == 401


def test_learning_sessions_and_tickets(gw):
    store = gw.store
    request = req("GET", "/web/?ticket=ST-42-abc")
    response = Response(302, (("set-cookie", "JSESSIONID=new-sess; Path=/; HttpOnly"),))
    run(gw.handle_response(request, response))
    sess_fp = FP(SESSION, "new-sess")
    assert run(store.get_session(sess_fp, gw.clock())) is not None
    assert run(store.session_for_ticket(FP(TICKET, "ST-42-abc"), gw.clock())) == sess_fp


def test_learning_ignores_cookie_deletion(gw):
    response = Response(200, (("set-cookie", "JSESSIONID=; Max-Age=0"),))
    run(gw.handle_response(req("POST", "/x"), response))
    assert gw.store._sessions == {}  # type: ignore[attr-defined]


def test_idle_timeout_revokes_and_audits_timeout(tmp_path):
    clock = Clock()
    gw = make_gateway(tmp_path, clock=clock, sessions={"idle_timeout": "10m"})
    run(
        gw.handle_response(
            req("GET", "/web/?ticket=ST-1"), Response(302, (("set-cookie", "JSESSIONID=idle"),))
        )
    )
    idle = {"Cookie": "JSESSIONID=idle"}
    clock.now += 300
    assert run(gw.handle_request(req("GET", "/web/api", idle))) == Forward()

    async def settle():
        await gw.handle_request(req("GET", "/web/api", idle))
        await asyncio.sleep(0)

    run(settle())  # last-seen refreshed in the background
    clock.now += 599
    assert run(gw.handle_request(req("GET", "/web/api", idle))) == Forward()
    clock.now += 601
    answer = run(gw.handle_request(req("GET", "/web/api", idle)))
    assert answer.status == 401
    rec = audit_records(tmp_path / "audit.jsonl")[-1]
    assert (rec["event"], rec["route"], rec["reason"]) == ("logout", "idle_timeout", "timeout")
    # and it stays revoked
    assert run(gw.handle_request(req("GET", "/web/api", idle))).status == 401
