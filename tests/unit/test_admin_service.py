"""Issue 15: what each admin endpoint answers, without a server (the tornado
routing is tested in tests/addon/test_admin_server.py)."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

import pytest
from gwtest import KEY, Clock, audit_records, make_config

from gateway.admin.revoke import Revoker
from gateway.admin.service import AdminService
from gateway.audit import AuditError, AuditEvent, AuditLog, CountingAudit
from gateway.audit.flood import FloodLimitedAudit
from gateway.credentials import SESSION, CredentialReader, Fingerprinter
from gateway.metrics import Metrics
from gateway.store import SessionRecord, StoreError
from gateway.store.memory import MemoryStore

FP = Fingerprinter(KEY)
TOKEN = "admin-token-for-the-unit-tests-0123456789"
AUTH = [f"Bearer {TOKEN}"]


def run(coro):
    return asyncio.run(coro)


def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "admin-token"
    path.write_text(TOKEN + "\n")
    os.chmod(path, 0o600)
    return path


class Setup:
    def __init__(self, tmp_path: Path, *, with_token: bool = True, store=None, flood=60):
        admin = {"listen": "127.0.0.1:0"}
        if with_token:
            admin["token_file"] = str(token_file(tmp_path))
        self.config = make_config(
            tmp_path, admin=admin, audit={"flood": {"per_client_per_minute": flood}}
        )
        self.store = store or MemoryStore()
        self.metrics = Metrics()
        self.clock = Clock()
        self.log = AuditLog(self.config.audit.path, fsync=False, clock=self.clock)
        self.log.open()
        self.audit = CountingAudit(FloodLimitedAudit(self.log, flood, self.clock), self.metrics)
        reader = CredentialReader(frozenset(["JSESSIONID"]), FP)
        self.service = AdminService(
            config=self.config,
            store=self.store,
            audit=self.audit,
            audit_path=self.config.audit.path,
            metrics=self.metrics,
            revoker=Revoker(self.config, self.store, FP, reader, self.clock),
            clock=self.clock,
        )

    def revoke(self, body: bytes = b'{"user": "bob"}', *, method="POST", auth=AUTH, encoding=None):
        return run(
            self.service.revoke(
                method=method,
                authorization=auth,
                content_encoding=encoding,
                body=body,
                client="192.0.2.50",
            )
        )

    def records(self):
        return audit_records(self.config.audit.path)


def body(answer):
    return json.loads(answer.body)


@pytest.fixture
def setup(tmp_path):
    s = Setup(tmp_path)
    yield s
    s.log.close()


def test_live_and_ready(setup):
    assert (run(setup.service.live()).status, body(run(setup.service.live()))) == (
        200,
        {"status": "live"},
    )
    answer = run(setup.service.ready())
    assert (answer.status, body(answer)) == (200, {"status": "ready"})


def test_not_ready_when_the_store_fails_or_the_audit_failed(tmp_path):
    class Down(MemoryStore):
        async def revoked(self, fingerprints, now):
            raise StoreError("redis store: no answer within 0.5 s")

    s = Setup(tmp_path, store=Down())
    s.metrics.audit_failed("cannot write audit log x: No space left on device")
    answer = run(s.service.ready())
    assert answer.status == 503
    assert body(answer) == {
        "status": "not_ready",
        "problems": [
            "store: redis store: no answer within 0.5 s",
            "audit: the last write failed: cannot write audit log x: No space left on device",
        ],
    }
    s.log.close()


def test_not_ready_when_the_audit_file_is_not_writable(setup, monkeypatch):
    real_access = os.access
    path = setup.config.audit.path

    def access(p, mode, *a, **k):
        return False if Path(p) == path else real_access(p, mode, *a, **k)

    monkeypatch.setattr(os, "access", access)
    answer = run(setup.service.ready())
    assert answer.status == 503
    assert body(answer)["problems"] == [f"audit: {path} is not writable"]


def test_revoke_success_answers_counts_and_audits_a_logout(setup):
    run(setup.store.record_session(SessionRecord(FP(SESSION, "s1"), 0, 0, 2e9, "bob")))
    from gateway.principals import user_key
    from gateway.store import IndexEntry

    run(
        setup.store.index_credentials(
            [user_key(FP, "bob")], [IndexEntry(FP(SESSION, "s1"), SESSION, 2e9)]
        )
    )
    answer = setup.revoke()
    assert (answer.status, body(answer)) == (200, {"invalidated": 1, "previously_invalidated": 0})
    answer = setup.revoke()
    assert body(answer) == {"invalidated": 0, "previously_invalidated": 1}
    first, second = setup.records()
    assert {
        k: first[k] for k in ("event", "route", "reason", "outcome", "status", "client", "user")
    } == {
        "event": "logout",
        "route": "admin",
        "reason": "admin",
        "outcome": "success",
        "status": 200,
        "client": "192.0.2.50",
        "user": "bob",
    }
    assert first["credentials"] == [FP(SESSION, "s1")]
    assert first["request_id"].startswith("admin-")
    assert second["outcome"] == "already_revoked"
    assert setup.metrics.logouts == {
        ("admin", "admin", "success"): 1,
        ("admin", "admin", "already_revoked"): 1,
    }


@pytest.mark.parametrize(
    ("kwargs", "status", "why"),
    [
        ({"auth": []}, 401, "missing admin token"),
        ({"auth": ["Basic YWRtaW46YWRtaW4="]}, 401, "missing admin token"),
        ({"auth": ["Bearer wrong"]}, 401, "wrong admin token"),
        ({"auth": [f"Bearer {TOKEN}x"]}, 401, "wrong admin token"),
        ({"auth": [f"Bearer {TOKEN[:-1]}"]}, 401, "wrong admin token"),
        ({"auth": [*AUTH, "Bearer other"]}, 401, "wrong admin token"),
        ({"method": "GET"}, 405, "method GET not allowed"),
        ({"encoding": "gzip"}, 415, "body has a Content-Encoding"),
        ({"body": b"{" + b" " * 70000 + b"}"}, 413, "body over limits.max_body_bytes"),
        ({"body": b'{"user": 1}'}, 400, "user must be a non-empty string"),
        ({"body": b"not json"}, 400, "body is not JSON"),
    ],
)
def test_revoke_refusals_are_answered_and_audited(setup, kwargs, status, why):
    answer = setup.revoke(**kwargs)
    assert answer.status == status
    [record] = setup.records()
    assert (record["event"], record["route"], record["reason"], record["status"]) == (
        "invalid_request",
        "admin",
        why,
        status,
    )
    assert record["outcome"] == "rejected" and record["client"] == "192.0.2.50"
    if status == 401:
        assert body(answer) == {"error": "unauthorized"}
        assert ("www-authenticate", 'Bearer realm="logout-gateway admin"') in answer.headers
    assert TOKEN not in json.dumps(record)
    assert not setup.metrics.logouts  # nothing was revoked


def test_revoke_without_a_token_file_is_disabled_and_says_why(tmp_path):
    s = Setup(tmp_path, with_token=False)
    answer = s.revoke()
    assert (answer.status, body(answer)["reason"]) == (404, "POST /-/revoke needs admin.token_file")
    [record] = s.records()
    assert record["reason"] == "revoke disabled: admin.token_file is not set"
    s.log.close()


def test_wrong_tokens_are_flood_limited_per_client(tmp_path):
    s = Setup(tmp_path, flood=3)
    for _ in range(10):
        assert s.revoke(auth=["Bearer guess"]).status == 401
    assert len(s.records()) == 3
    s.log.close()


def test_revoke_when_the_store_fails_is_503_and_audited_as_an_error(tmp_path):
    class Down(MemoryStore):
        async def indexed_credentials(self, key, now):
            raise StoreError("down")

    s = Setup(tmp_path, store=Down())
    answer = s.revoke()
    assert (answer.status, body(answer)) == (503, {"error": "store_unavailable"})
    [record] = s.records()
    assert (record["event"], record["outcome"], record["status"], record["user"]) == (
        "logout",
        "error",
        503,
        "bob",
    )
    s.log.close()


def test_revoke_when_the_audit_fails_still_revokes_and_answers_503(setup):
    class Failing:
        async def write(self, ev: AuditEvent) -> dict[str, object]:
            raise AuditError("disk full")

    setup.service.audit = CountingAudit(Failing(), setup.metrics)
    answer = setup.revoke(b'{"session": "s-9"}')
    assert (answer.status, body(answer)) == (503, {"error": "audit_unavailable"})
    assert run(setup.store.revoked([FP(SESSION, "s-9")], setup.clock.now))
    assert setup.metrics.audit_failures == 1


def test_metrics_text_and_live_revocations(setup):
    run(
        setup.service.revoke(
            method="POST",
            authorization=AUTH,
            content_encoding=None,
            body=b'{"session": "s"}',
            client=None,
        )
    )
    answer = run(setup.service.prometheus())
    assert answer.status == 200
    assert dict(answer.headers)["content-type"].startswith("text/plain; version=0.0.4")
    text = answer.body.decode()
    assert "logout_gateway_live_revocations 1.0" in text
    assert (
        'logout_gateway_logouts_total{outcome="success",reason="admin",route="admin"} 1.0' in text
    )


def test_live_revocations_are_counted_at_most_every_few_seconds(setup):
    calls = []
    real = setup.store.count_revoked

    async def counting(now):
        calls.append(now)
        return await real(now)

    setup.store.count_revoked = counting
    for _ in range(3):
        run(setup.service.prometheus())
    assert len(calls) == 1
    setup.clock.now += 6
    run(setup.service.prometheus())
    assert len(calls) == 2


def test_status_json_and_page(setup):
    setup.audit_user = run(
        setup.audit.write(
            AuditEvent(
                "logout",
                "cas_logout",
                "manual",
                "success",
                200,
                "192.0.2.1",
                "<script>alert(1)</script>",
                ("f" * 32,),
            )
        )
    )
    status = body(run(setup.service.status_json()))
    assert status["logouts_total"] == 1
    assert status["recent"][0]["user"] == "<script>alert(1)</script>"
    assert status["logouts_per_hour"]["totals"]["manual"] == 1
    answer = run(setup.service.status_page())
    headers = dict(answer.headers)
    html = answer.body.decode()
    nonce = re.search(r"'nonce-([^']+)'", headers["content-security-policy"]).group(1)
    assert f'<script nonce="{nonce}">' in html and f'<style nonce="{nonce}">' in html
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # self-contained: nothing is loaded from anywhere
    assert not re.search(r"\b(src|href)\s*=|url\(|@import|https?://", html)
    fragment = run(setup.service.status_fragment()).body.decode()
    assert fragment.startswith("<section>") and "<html" not in fragment
