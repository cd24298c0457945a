"""End to end: `gateway run` and the demo upstream as real processes, real HTTP."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess

import pytest
from procs import BIN, Gateway, login, request, running_gateway, write_config

pytestmark = pytest.mark.slow


def fp16(value: str) -> str:
    """The demo upstream's own fingerprint of a cookie value."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def arrived(upstream, path_prefix: str, sid: str) -> int:
    return sum(
        1
        for r in upstream.requests()
        if r["path"].startswith(path_prefix) and r["cookies"].get("JSESSIONID") == fp16(sid)
    )


def audit(tmp_path):
    return [json.loads(x) for x in (tmp_path / "state" / "audit.jsonl").read_text().splitlines()]


def test_login_use_logout_refused_and_audited(tmp_path, upstream):
    config = write_config(tmp_path, upstream.url)
    with running_gateway(config) as gw:
        sid = login(gw.port)
        cookie = {"Cookie": f"JSESSIONID={sid}"}
        status, _, body = request(gw.port, "GET", "/web/api/v2/clusters", cookie)
        assert status == 200, body

        status, headers, body = request(gw.port, "POST", "/cas/logout", cookie)
        assert (status, json.loads(body)) == (200, {})
        assert headers["Cache-Control"] == "no-store"
        assert any(
            c.startswith("JSESSIONID=;") and "Max-Age=0" in c for c in headers.get_all("Set-Cookie")
        )
        assert arrived(upstream, "/cas/logout", sid) == 0  # short-circuited

        before = arrived(upstream, "/web/api", sid)
        status, headers, body = request(gw.port, "GET", "/web/api/v2/clusters", cookie)
        assert status == 401
        assert json.loads(body) == {"error": "credential_revoked"}
        assert arrived(upstream, "/web/api", sid) == before  # never reached the upstream

        status, headers, body = request(
            gw.port, "GET", "/web/v1/logout_action?is_timeout_logout=true", cookie
        )
        assert status == 302
        expected = f"{upstream.url}/cas/logout?service=http%3A%2F%2F127.0.0.1%3A8080%2Fweb%2F"
        assert headers["Location"] == expected
        assert json.loads(body) == {"redirect": expected}
        output = gw.proc.text

    records = audit(tmp_path)
    logouts = [(r["route"], r["reason"]) for r in records if r["event"] == "logout"]
    assert logouts == [("cas_logout", "manual"), ("logout_action", "timeout")]
    assert any(r["event"] == "revoked_credential_use" for r in records)

    # No raw credential anywhere we wrote.
    audit_text = (tmp_path / "state" / "audit.jsonl").read_text()
    for text in (audit_text, output, upstream.log.read_text(), upstream.proc.text):
        assert sid not in text

    # The audit file verifies; a copy with one edited field does not.
    audit_path = tmp_path / "state" / "audit.jsonl"
    ok = subprocess.run(
        [BIN / "gateway", "audit", "verify", audit_path], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("ok")
    tampered = tmp_path / "tampered.jsonl"
    shutil.copy(audit_path, tampered)
    tampered.write_text(tampered.read_text().replace('"reason":"manual"', '"reason":"timeout"', 1))
    bad = subprocess.run(
        [BIN / "gateway", "audit", "verify", tampered], capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert "tampered.jsonl:" in bad.stdout


def test_restarted_gateway_still_refuses(tmp_path, upstream):
    config = write_config(tmp_path, upstream.url)
    with running_gateway(config) as gw:
        sid = login(gw.port)
        assert request(gw.port, "POST", "/cas/logout", {"Cookie": f"JSESSIONID={sid}"})[0] == 200
    with running_gateway(config) as gw:
        status, _, _ = request(
            gw.port, "GET", "/web/api/v2/clusters", {"Cookie": f"JSESSIONID={sid}"}
        )
        assert status == 401
    records = audit(tmp_path)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))  # seq continues


def test_forward_mode_passes_the_upstream_answer(tmp_path, upstream):
    config = write_config(
        tmp_path,
        upstream.url,
        routes={
            "cas_logout": {"mode": "forward"},
            "logout_action": {"mode": "forward"},
            "saml_logout": None,
        },
    )
    with running_gateway(config) as gw:
        sid = login(gw.port)
        cookie = {"Cookie": f"JSESSIONID={sid}"}
        status, _, body = request(gw.port, "POST", "/cas/logout", cookie)
        assert (status, json.loads(body)) == (200, {})
        assert arrived(upstream, "/cas/logout", sid) == 1  # the upstream saw it
        assert request(gw.port, "GET", "/web/api/v2/clusters", cookie)[0] == 401

        sid2 = login(gw.port)
        cookie2 = {"Cookie": f"JSESSIONID={sid2}"}
        status, _headers, _ = request(
            gw.port, "GET", "/web/v1/logout_action?is_timeout_logout=true", cookie2
        )
        assert status == 302  # the upstream's own redirect, passed back
        assert arrived(upstream, "/web/v1/logout_action", sid2) == 1
        assert request(gw.port, "GET", "/web/api/v2/clusters", cookie2)[0] == 401
    records = [r for r in audit(tmp_path) if r["event"] == "logout"]
    assert [(r["route"], r["reason"], r["status"], r["forwarded"]) for r in records] == [
        ("cas_logout", "manual", None, True),
        ("logout_action", "timeout", None, True),
    ]


TIMEOUT_VARIANTS = [
    ("", "manual"),
    ("?is_timeout_logout=null", "manual"),
    ("?is_timeout_logout=TRUE", "timeout"),
    ("?is_timeout_logout=", "manual"),
    ("?is_timeout_logout=true&is_timeout_logout=true", "manual"),
    ("?is_timeout_logout=%00garbage", "manual"),
    ("?is_timeout_logout=true", "timeout"),
    ("?is_timeout_logout=false", "manual"),
]


def test_is_timeout_logout_variants(tmp_path, upstream):
    config = write_config(tmp_path, upstream.url)
    with running_gateway(config) as gw:
        sids = []
        for qs, _ in TIMEOUT_VARIANTS:
            sid = login(gw.port)
            sids.append(sid)
            status, _, _ = request(
                gw.port, "GET", "/web/v1/logout_action" + qs, {"Cookie": f"JSESSIONID={sid}"}
            )
            assert status == 302, qs
        for sid in sids:  # every variant revoked identically
            assert (
                request(gw.port, "GET", "/web/api/v2/clusters", {"Cookie": f"JSESSIONID={sid}"})[0]
                == 401
            )
    reasons = [r["reason"] for r in audit(tmp_path) if r["event"] == "logout"]
    assert reasons == [reason for _, reason in TIMEOUT_VARIANTS]


PATH_VARIANTS = [
    ("POST", "/cas/logout/"),
    ("POST", "//cas//logout"),
    ("POST", "/cas/logout;jsessionid=0123ABC"),
    ("POST", "/%63as/%6Cogout"),
    ("GET", "/web/v1/logout_action/"),
    ("GET", "/web//v1/logout_action"),
    ("GET", "/web/v1/logout_action;jsessionid=0123ABC?is_timeout_logout=true"),
    ("GET", "/web/v1/logout%5Faction"),
]


@pytest.mark.parametrize("mode", ["short_circuit", "forward"])
def test_path_variants_are_logouts(tmp_path, upstream, mode):
    routes = {"cas_logout": {"mode": mode}, "logout_action": {"mode": mode}, "saml_logout": None}
    config = write_config(tmp_path, upstream.url, routes=routes)
    with running_gateway(config) as gw:
        for method, path in PATH_VARIANTS:
            sid = login(gw.port)
            cookie = {"Cookie": f"JSESSIONID={sid}"}
            status, _, _ = request(gw.port, method, path, cookie)
            if mode == "short_circuit":
                assert status == (200 if method == "POST" else 302), path
            assert request(gw.port, "GET", "/web/api/v2/clusters", cookie)[0] == 401, path
            # Short-circuited: nothing with this cookie reached the upstream;
            # forwarded: the logout itself did, the refused request did not.
            assert arrived(upstream, "/", sid) == (0 if mode == "short_circuit" else 1), path
    routes_seen = [r["route"] for r in audit(tmp_path) if r["event"] == "logout"]
    assert len(routes_seen) == len(PATH_VARIANTS)


def test_cas_browser_logout_filters_service(tmp_path, upstream):
    config = write_config(tmp_path, upstream.url)
    with running_gateway(config) as gw:
        sid = login(gw.port)
        cookie = {"Cookie": f"JSESSIONID={sid}"}
        good = "http%3A%2F%2F127.0.0.1%3A8080%2Fweb%2F"
        status, headers, _ = request(gw.port, "GET", f"/cas/logout?service={good}", cookie)
        assert status == 302 and headers["Location"] == "http://127.0.0.1:8080/web/"
        assert request(gw.port, "GET", "/web/api/v2/clusters", cookie)[0] == 401
        sid2 = login(gw.port)
        evil = "https%3A%2F%2Fevil.example%2F"
        status, headers, _body = request(
            gw.port,
            "GET",
            f"/cas/logout?service={evil}&url={evil}",
            {"Cookie": f"JSESSIONID={sid2}"},
        )
        assert status == 200 and headers["Location"] is None  # no redirect off-site
        logged = [r for r in upstream.requests() if r["path"] == "/cas/logout"]
        assert logged[-1]["query_keys"] == []
    events = [(r["event"], r["route"]) for r in audit(tmp_path)]
    assert ("invalid_request", "cas_logout") in events


def test_stock_mitmdump_runs_the_addon(tmp_path, upstream):
    from procs import ROOT, Proc

    config = write_config(tmp_path, upstream.url)
    proc = Proc(
        [
            str(BIN / "mitmdump"),
            # flow_detail=0: the stock dumper would print URLs (tickets) per flow.
            "--set",
            "flow_detail=0",
            "-s",
            str(ROOT / "addons" / "logout_gateway.py"),
            "--set",
            f"gateway_config={config}",
            "--set",
            "connection_strategy=lazy",
            "--mode",
            f"reverse:{upstream.url}@127.0.0.1:0",
        ],
        r"listening at 127\.0\.0\.1:(\d+)",
        cwd=tmp_path,
    )
    try:
        port = int(proc.wait_ready().group(1))
        sid = login(port)
        cookie = {"Cookie": f"JSESSIONID={sid}"}
        assert request(port, "GET", "/web/api/v2/clusters", cookie)[0] == 200
        assert request(port, "POST", "/cas/logout", cookie)[0] == 200
        assert request(port, "GET", "/web/api/v2/clusters", cookie)[0] == 401
        assert request(port, "GET", "/web/v1/logout_action?is_timeout_logout=true")[0] == 302
    finally:
        proc.stop()
    assert sid not in proc.text
    assert [r["reason"] for r in audit(tmp_path) if r["event"] == "logout"] == ["manual", "timeout"]


def test_stock_mitmdump_with_bad_config_fails_with_key_names(tmp_path):
    from procs import ROOT

    bad = tmp_path / "bad.yaml"
    bad.write_text("listen: 8080\nstore: {backend: mysql}\n")
    result = subprocess.run(
        [
            BIN / "mitmdump",
            "-s",
            ROOT / "addons" / "logout_gateway.py",
            "--set",
            f"gateway_config={bad}",
            "--mode",
            "reverse:http://127.0.0.1:9@127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "store.backend" in result.stdout + result.stderr


def test_bad_config_exits_2_with_every_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "listen: 'localhost'\nupstream: ftp://x\nstore: {backend: mysql}\n"
        "sessions: {cookies: [], max_lifetime: 12x}\nbogus: true\n"
    )
    for cmd in ("run", "check"):
        result = subprocess.run(
            [BIN / "gateway", cmd, "--config", bad], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2, cmd
        assert "Traceback" not in result.stderr
        lines = [x.strip() for x in result.stderr.splitlines()[1:]]
        for key in (
            "listen:",
            "upstream:",
            "store.backend:",
            "sessions.cookies:",
            "sessions.max_lifetime:",
            "bogus:",
        ):
            assert any(line.startswith(key) for line in lines), (key, result.stderr)


def test_check_accepts_the_example_config(tmp_path):
    from procs import ROOT

    config = tmp_path / "config.yaml"
    shutil.copy(ROOT / "config.yaml", config)
    missing = subprocess.run(
        [BIN / "gateway", "check", "--config", config], capture_output=True, text=True
    )
    assert missing.returncode == 2 and "saml.sp_key_file: file not found" in missing.stderr
    subprocess.run(
        [ROOT / "scripts" / "gen-sp-keys", "--out-dir", tmp_path / "var"],
        check=True,
        capture_output=True,
    )
    token = tmp_path / "var" / "admin-token"  # as ./scripts/run creates it
    token.write_text("0123456789abcdef" * 4 + "\n")
    token.chmod(0o600)
    result = subprocess.run(
        [BIN / "gateway", "check", "--config", config], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_corrupt_database_is_a_startup_error(tmp_path, upstream):
    config = write_config(tmp_path, upstream.url)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "gateway.db").write_bytes(b"this is not a database" * 100)
    result = subprocess.run(
        [BIN / "gateway", "run", "--config", config], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "gateway.db" in result.stderr and "Traceback" not in result.stderr
    # and the file was not replaced
    assert (tmp_path / "state" / "gateway.db").read_bytes().startswith(b"this is not")
    check = subprocess.run(
        [BIN / "gateway", "check", "--config", config], capture_output=True, text=True
    )
    assert check.returncode == 2 and "store.sqlite_path" in check.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_clean_stop_on_signal(tmp_path, upstream, sig):
    gw = Gateway(write_config(tmp_path, upstream.url))
    assert gw.stop(sig) == 0
    assert "gateway stopped" in gw.proc.text
