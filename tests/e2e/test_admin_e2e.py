"""Issue 15 with real processes: the admin server of `gateway run` — revoke a
user on two replicas sharing Redis, exact metrics after a scripted scenario,
readiness following Redis, the admin token, and the two ports kept apart."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from procs import BIN, Gateway, request, running_gateway, write_config
from redis_server import RedisServer
from samltest import saml_response_b64
from secrets_registry import remember

from gateway.audit import verify

pytestmark = pytest.mark.slow

API = "/web/api/v2/clusters"
JSON = {"Content-Type": "application/json"}
USER_HEADER = {"user_header": "X-Authenticated-User"}


def admin_token(folder: Path) -> tuple[Path, str]:
    """A token file as an operator makes one (`openssl rand -hex 32 > f; chmod 600 f`).
    `.key`: the secret scan exempts key material, and the test remembers the token."""
    token = os.urandom(32).hex()
    path = folder / "admin-token.key"
    path.write_text(token + "\n")
    os.chmod(path, 0o600)
    remember(token)
    return path, token


def gateway_config(folder: Path, upstream, store: dict[str, Any] | None = None, **extra):
    folder.mkdir(parents=True, exist_ok=True)
    token_file, token = admin_token(folder)
    config = write_config(
        folder,
        upstream.url,
        sessions=USER_HEADER,
        admin={"listen": "127.0.0.1:0", "token_file": str(token_file)},
        **({"store": store} if store else {}),
        **extra,
    )
    return config, token


def login_as(upstream, gw_port: int, user: str) -> str:
    """CAS login as `user` (the demo CAS takes ?username=), through the gateway;
    returns the JSESSIONID. The CAS server is another host: asked directly."""
    service = f"http://127.0.0.1:{gw_port}/web/"
    status, headers, _ = request(
        upstream.port, "GET", f"/cas/login?service={service}&username={user}"
    )
    assert status == 302
    location = headers["Location"]
    ticket = location.split("ticket=", 1)[1]
    status, headers, _ = request(gw_port, "GET", location.split(str(gw_port), 1)[1])
    assert status == 302 and headers["X-Authenticated-User"] == user
    cookie = next(v for v in headers.get_all("Set-Cookie") if v.startswith("JSESSIONID="))
    sid = cookie.split(";", 1)[0].split("=", 1)[1]
    remember(sid, ticket)
    return sid


def saml_tokens(gw_port: int, user: str, session_index: str) -> tuple[str, str]:
    content = saml_response_b64(user, session_index)
    body = json.dumps({"content": content, "realm": "saml1"}).encode()
    status, _, answer = request(gw_port, "POST", "/_security/saml/authenticate", JSON, body)
    assert status == 200
    tokens = json.loads(answer)
    remember(tokens["access_token"], tokens["refresh_token"], content)
    return tokens["access_token"], tokens["refresh_token"]


def cookie(sid: str) -> dict[str, str]:
    return {"Cookie": f"JSESSIONID={sid}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def revoke(admin_port: int, token: str | None, payload: dict[str, str]):
    headers = dict(JSON)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    status, _, body = request(
        admin_port, "POST", "/-/revoke", headers, json.dumps(payload).encode()
    )
    return status, json.loads(body)


def refresh(gw_port: int, refresh_token: str) -> int:
    body = json.dumps({"grant_type": "refresh_token", "refresh_token": refresh_token}).encode()
    return request(gw_port, "POST", "/_security/oauth2/token", JSON, body)[0]


def audit(folder: Path) -> list[dict[str, Any]]:
    path = folder / "state" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


# --------------------------------------------------------------------------- must show 1


def test_revoke_a_user_on_one_replica_ends_his_credentials_on_both(
    tmp_path, upstream, redis_server
):
    redis_server.flush()
    store = {"backend": "redis", "redis_url": redis_server.url}
    config_a, token_a = gateway_config(tmp_path / "a", upstream, store)
    config_b, token_b = gateway_config(tmp_path / "b", upstream, store)
    with running_gateway(config_a) as a, running_gateway(config_b) as b:
        assert a.admin_port and b.admin_port and a.admin_port != a.port
        # bob's cookies and tokens, learned on A and on B; alice as a control
        sessions = [login_as(upstream, a.port, "bob"), login_as(upstream, b.port, "bob")]
        pairs = [saml_tokens(a.port, "bob", "_bob-a"), saml_tokens(b.port, "bob", "_bob-b")]
        alice = login_as(upstream, a.port, "alice")
        alice_access, _ = saml_tokens(b.port, "alice", "_alice")
        for gw in (a, b):
            for sid in sessions:
                assert request(gw.port, "GET", API, cookie(sid))[0] == 200
            for access, _ in pairs:
                assert request(gw.port, "GET", "/_security/_authenticate", bearer(access))[0] == 200

        status, answer = revoke(a.admin_port, token_a, {"user": "bob"})
        assert (status, answer) == (200, {"invalidated": 6, "previously_invalidated": 0})

        for gw in (a, b):
            for sid in sessions:
                assert request(gw.port, "GET", API, cookie(sid))[0] == 401
            for access, refresh_token in pairs:
                assert request(gw.port, "GET", "/_security/_authenticate", bearer(access))[0] == 401
                assert refresh(gw.port, refresh_token) == 401
            # alice is untouched
            assert request(gw.port, "GET", API, cookie(alice))[0] == 200
            assert (
                request(gw.port, "GET", "/_security/_authenticate", bearer(alice_access))[0] == 200
            )

        # a second call (on the other replica) reports them as previously invalidated
        status, answer = revoke(b.admin_port, token_b, {"user": "bob"})
        assert (status, answer) == (200, {"invalidated": 0, "previously_invalidated": 6})
        # each replica's own token is its own: A's token is not B's
        assert revoke(b.admin_port, token_a, {"user": "bob"})[0] == 401

    [rec] = [r for r in audit(tmp_path / "a") if r["route"] == "admin"]
    assert (rec["event"], rec["reason"], rec["outcome"], rec["status"], rec["user"]) == (
        "logout",
        "admin",
        "success",
        200,
        "bob",
    )
    assert len(rec["credentials"]) == 6
    b_admin = [r for r in audit(tmp_path / "b") if r["route"] == "admin"]
    assert [(r["event"], r["outcome"]) for r in b_admin] == [
        ("logout", "already_revoked"),
        ("invalid_request", "rejected"),
    ]
    assert verify([tmp_path / "a" / "state" / "audit.jsonl"]).ok


# --------------------------------------------------------------------------- must show 2


def metric_samples(admin_port: int) -> dict[str, float]:
    status, headers, body = request(admin_port, "GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    out = {}
    for line in body.decode().splitlines():
        if line.startswith("logout_gateway_") and "_bucket{" not in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_metrics_show_exact_counts_after_a_scripted_scenario(tmp_path, upstream):
    config, token = gateway_config(tmp_path, upstream)
    with running_gateway(config) as gw:
        sid = login_as(upstream, gw.port, "carol")  # forwarded 1 (learns the session)
        assert request(gw.port, "GET", API, cookie(sid))[0] == 200  # forwarded 2
        assert request(gw.port, "POST", "/cas/logout", cookie(sid))[0] == 200  # answered 1
        assert request(gw.port, "GET", API, cookie(sid))[0] == 401  # refused 1
        assert request(gw.port, "GET", "/web/v1/logout_action?is_timeout_logout=true")[0] == 302
        assert request(gw.port, "GET", "/web/")[0] == 302  # forwarded 3
        other = "never-seen-session-0123456789"
        remember(other)
        assert revoke(gw.admin_port, token, {"session": other})[0] == 200  # not a proxy request
        got = metric_samples(gw.admin_port)

    expected = {
        'logout_gateway_requests_total{decision="forwarded"}': 3,
        'logout_gateway_requests_total{decision="answered"}': 2,
        'logout_gateway_requests_total{decision="refused"}': 1,
        'logout_gateway_requests_total{decision="unavailable"}': 0,
        'logout_gateway_requests_total{decision="error"}': 0,
        'logout_gateway_logouts_total{outcome="success",reason="admin",route="admin"}': 1,
        'logout_gateway_logouts_total{outcome="success",reason="manual",route="cas_logout"}': 1,
        'logout_gateway_logouts_total{outcome="no_session",reason="timeout",route="logout_action"}': 1,
        "logout_gateway_revoked_uses_total": 1,
        "logout_gateway_audit_failures_total": 0,
        "logout_gateway_live_revocations": 2,
        # two revocation writes: the CAS logout and the admin revoke
        'logout_gateway_store_seconds_count{operation="revoke"}': 2,
        'logout_gateway_store_seconds_count{operation="record_session"}': 1,
    }
    assert {k: got.get(k) for k in expected} == expected
    assert not [
        k for k in got if k.startswith("logout_gateway_logouts_total") and k not in expected
    ]


# --------------------------------------------------------------------------- must show 3


def wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_ready_turns_503_when_redis_is_killed_and_200_when_it_returns(tmp_path, upstream):
    server = RedisServer(tmp_path / "redis")
    try:
        config, _ = gateway_config(
            tmp_path / "gw", upstream, {"backend": "redis", "redis_url": server.url}
        )
        with running_gateway(config) as gw:
            status, _, body = request(gw.admin_port, "GET", "/-/ready")
            assert (status, json.loads(body)) == (200, {"status": "ready"})
            server.kill()
            status, _, body = request(gw.admin_port, "GET", "/-/ready")
            answer = json.loads(body)
            assert status == 503 and answer["status"] == "not_ready"
            assert len(answer["problems"]) == 1 and answer["problems"][0].startswith("store: ")
            # alive all the same: a load balancer's liveness probe must not restart it
            assert request(gw.admin_port, "GET", "/-/live")[0] == 200
            server.start()
            assert wait_for(lambda: request(gw.admin_port, "GET", "/-/ready")[0] == 200)
    finally:
        server.stop()


# --------------------------------------------------------------------------- must show 4


def test_admin_token_is_required_and_every_refusal_is_audited(tmp_path, upstream):
    config, token = gateway_config(tmp_path, upstream)
    with running_gateway(config) as gw:
        sid = login_as(upstream, gw.port, "dave")
        assert revoke(gw.admin_port, None, {"user": "dave"}) == (401, {"error": "unauthorized"})
        wrong = "0" * len(token)
        assert revoke(gw.admin_port, wrong, {"user": "dave"}) == (401, {"error": "unauthorized"})
        status, headers, _ = request(gw.admin_port, "POST", "/-/revoke", JSON, b'{"user":"dave"}')
        assert status == 401
        assert headers["WWW-Authenticate"] == 'Bearer realm="logout-gateway admin"'
        assert request(gw.port, "GET", API, cookie(sid))[0] == 200  # nothing was revoked
    refusals = [r for r in audit(tmp_path) if r["event"] == "invalid_request"]
    assert [(r["route"], r["reason"], r["status"], r["outcome"]) for r in refusals] == [
        ("admin", "missing admin token", 401, "rejected"),
        ("admin", "wrong admin token", 401, "rejected"),
        ("admin", "missing admin token", 401, "rejected"),
    ]
    assert all(r["client"] == "127.0.0.1" for r in refusals)


def test_the_admin_port_never_proxies_and_the_public_port_never_answers_admin_paths(
    tmp_path, upstream
):
    config, token = gateway_config(tmp_path, upstream)
    with running_gateway(config) as gw:
        sid = login_as(upstream, gw.port, "erin")
        upstream.reset()
        # the admin port: proxied paths are simply not there, and nothing goes upstream
        for method, path in (("GET", API), ("GET", "/web/"), ("POST", "/cas/logout")):
            status, _, body = request(gw.admin_port, method, path, cookie(sid))
            assert (status, json.loads(body)) == (404, {"error": "not_found"}), path
        assert upstream.requests() == []
        assert request(gw.port, "GET", API, cookie(sid))[0] == 200  # the logout never happened
        # the public port: admin paths are ordinary paths, forwarded to the upstream
        upstream.reset()
        for method, path in (("GET", "/-/live"), ("GET", "/-/ready"), ("GET", "/metrics")):
            status, _, body = request(gw.port, method, path)
            assert (status, json.loads(body)) == (404, {"error": "not_found"}), path
        headers = {**JSON, "Authorization": f"Bearer {token}"}
        body = json.dumps({"session": sid}).encode()
        assert request(gw.port, "POST", "/-/revoke", headers, body)[0] == 404
        seen = [(r["method"], r["path"]) for r in upstream.requests()]
        assert seen == [
            ("GET", "/-/live"),
            ("GET", "/-/ready"),
            ("GET", "/metrics"),
            ("POST", "/-/revoke"),
        ]
        assert request(gw.port, "GET", API, cookie(sid))[0] == 200  # nothing revoked
    assert not [r for r in audit(tmp_path) if r["route"] == "admin"]


# --------------------------------------------------------------------------- gateway revoke


def test_gateway_revoke_next_to_a_running_gateway(tmp_path, upstream):
    config, _ = gateway_config(tmp_path, upstream)
    with running_gateway(config) as gw:
        sid = login_as(upstream, gw.port, "frank")
        argv = [str(BIN / "gateway"), "revoke", "--config", str(config), "--user", "frank"]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert result.returncode == 1
        assert "is in use by another gateway" in result.stderr
        assert "nothing was revoked" in result.stderr
        assert request(gw.port, "GET", API, cookie(sid))[0] == 200
        separate = tmp_path / "revoke-audit.jsonl"
        result = subprocess.run(
            [*argv, "--audit-file", str(separate)], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"invalidated": 1, "previously_invalidated": 0}
        # the running gateway refuses it on the very next request (shared SQLite store)
        assert request(gw.port, "GET", API, cookie(sid))[0] == 401
    assert verify([separate]).ok


def test_admin_port_in_use_is_a_clear_startup_error(tmp_path, upstream):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        token_file, _ = admin_token(tmp_path)
        config = write_config(
            tmp_path,
            upstream.url,
            admin={"listen": f"127.0.0.1:{port}", "token_file": str(token_file)},
        )
        result = subprocess.run(
            [str(BIN / "gateway"), "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr == (
        f"gateway: cannot start: admin.listen: cannot listen on 127.0.0.1:{port}: already in use\n"
    )


def test_a_bad_token_file_is_a_config_error_naming_the_key(tmp_path, upstream):
    token_file = tmp_path / "admin-token.key"
    token_file.write_text("short\n")
    os.chmod(token_file, 0o644)
    config = write_config(
        tmp_path, upstream.url, admin={"listen": "127.0.0.1:0", "token_file": str(token_file)}
    )
    for command in ("run", "check"):
        result = subprocess.run(
            [str(BIN / "gateway"), command, "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2
        assert f"admin.token_file: {token_file} is open to group or others (mode 0644)" in (
            result.stderr
        )


def test_gateway_class_reads_no_admin_port_when_off(tmp_path, upstream):
    with running_gateway(write_config(tmp_path, upstream.url)) as gw:
        assert isinstance(gw, Gateway) and gw.admin_port is None
