"""Issue 11 (hardening) with real processes: `gateway run`, stock mitmdump,
the demo upstream, real HTTP."""

from __future__ import annotations

import json
import socket
import subprocess

import pytest
from procs import BIN, ROOT, login, request, running_gateway, write_config

pytestmark = pytest.mark.slow


def test_item1_revoked_session_id_in_the_url_never_reaches_the_upstream(tmp_path, upstream):
    config = write_config(tmp_path, upstream.url)
    with running_gateway(config) as gw:
        sid = login(gw.port)
        status, _, _ = request(gw.port, "POST", "/cas/logout", {"Cookie": f"JSESSIONID={sid}"})
        assert status == 200
        before = len(upstream.requests())
        for target in (
            f"/web/api;jsessionid={sid}",
            f"/web/api;JSESSIONID={sid}",
            f"/web/api?jsessionid={sid}",
            f"/web;jsessionid={sid}/api/v2/clusters",
        ):
            status, _, body = request(gw.port, "GET", target)
            assert status == 401, target
            assert json.loads(body) == {"error": "credential_revoked"}
        assert len(upstream.requests()) == before  # none of them was forwarded

        # A logout that carries the id only in the URL revokes it too.
        other = login(gw.port)
        status, _, _ = request(gw.port, "POST", f"/cas/logout;jsessionid={other}")
        assert status == 200
        status, _, _ = request(gw.port, "GET", "/web/api", {"Cookie": f"JSESSIONID={other}"})
        assert status == 401
        output = gw.proc.text
    audit_text = (tmp_path / "state" / "audit.jsonl").read_text()
    for text in (audit_text, output):
        assert sid not in text and other not in text


def test_item2_second_gateway_on_the_same_audit_file_exits_1(tmp_path, upstream):
    config = write_config(tmp_path, upstream.url)
    with running_gateway(config) as first:
        pid = first.proc.proc.pid
        # A second `gateway run` with its own port but the same audit file.
        second = subprocess.run(
            [str(BIN / "gateway"), "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert second.returncode == 1, second.stdout + second.stderr
        audit_path = tmp_path / "state" / "audit.jsonl"
        assert f"audit log {audit_path} is in use by another gateway (pid {pid})" in second.stderr
        # The README's stock-mitmproxy command with the same config.
        stock = subprocess.run(
            [
                str(BIN / "mitmdump"),
                "--set",
                "flow_detail=0",
                "-s",
                str(ROOT / "addons" / "logout_gateway.py"),
                "--set",
                f"gateway_config={config}",
                "--mode",
                f"reverse:{upstream.url}@127.0.0.1:0",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert stock.returncode == 1, stock.stdout + stock.stderr
        assert "is in use by another gateway" in stock.stdout + stock.stderr
        sid = login(first.port)
        assert request(first.port, "POST", "/cas/logout", {"Cookie": f"JSESSIONID={sid}"})[0] == 200
    verify = subprocess.run(
        [str(BIN / "gateway"), "audit", "verify", str(tmp_path / "state" / "audit.jsonl")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_item6_port_in_use_is_said_once_with_the_address(tmp_path, upstream):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, upstream.url, listen=f"127.0.0.1:{port}")
        result = subprocess.run(
            [str(BIN / "gateway"), "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert f"cannot listen on 127.0.0.1:{port}: already in use" in output
    assert output.count(str(port)) == 1, output
