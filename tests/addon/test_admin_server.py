"""Issue 15: the admin server inside a started runtime (tornado on the gateway's
own loop), and in the stock-mitmproxy addon; decisions counted by the hook."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket

import pytest
from gwtest import audit_records, call_hook
from mitmproxy.test import taddons
from test_addon import flow, response, started, write_config

from gateway.config import load_config
from gateway.mitm import LogoutGateway
from gateway.runtime import StartupError, start

TOKEN = "addon-test-admin-token-0123456789abcdef"


def run(coro):
    return asyncio.run(coro)


def admin_config(tmp_path, listen="127.0.0.1:0", **extra):
    token = tmp_path / "admin-token.key"
    token.write_text(TOKEN)
    os.chmod(token, 0o600)
    return write_config(tmp_path, admin={"listen": listen, "token_file": str(token)}, **extra)


def fetch(port, method, path, headers=None, body=None):
    """Blocking HTTP/1.1 request (run in a thread while the loop serves)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


async def afetch(port, method, path, headers=None, body=None):
    return await asyncio.to_thread(fetch, port, method, path, headers, body)


def test_admin_endpoints_on_their_own_port(tmp_path):
    async def go():
        runtime = await start(load_config(admin_config(tmp_path)), background=False)
        try:
            assert runtime.admin is not None
            host, port = runtime.admin.address
            assert host == "127.0.0.1" and runtime.admin.url == f"http://127.0.0.1:{port}"
            status, headers, body = await afetch(port, "GET", "/-/live")
            assert (status, json.loads(body)) == (200, {"status": "live"})
            assert "Server" not in headers and headers["Cache-Control"] == "no-store"
            status, _, body = await afetch(port, "GET", "/-/ready")
            assert (status, json.loads(body)) == (200, {"status": "ready"})
            status, headers, body = await afetch(port, "GET", "/metrics")
            assert status == 200 and b"logout_gateway_requests_total" in body
            assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
            status, headers, body = await afetch(port, "GET", "/")
            assert status == 200 and body.startswith(b"<!DOCTYPE html>")
            assert "Content-Security-Policy" in headers
            status, _, body = await afetch(port, "GET", "/-/status.json")
            assert status == 200 and "requests" in json.loads(body)
            status, _, body = await afetch(port, "HEAD", "/")
            assert (status, body) == (200, b"")
            # the admin port never proxies: anything else is 404
            for path in ("/web/api/v2/clusters", "/cas/logout", "/-/live/", "/metrics/x"):
                status, _, body = await afetch(port, "GET", path)
                assert (status, json.loads(body)) == (404, {"error": "not_found"}), path
            status, headers, body = await afetch(port, "POST", "/-/live", body=b"x")
            assert (status, headers["Allow"]) == (405, "GET")
            status, _, body = await afetch(port, "TRACE", "/-/live")
            assert status == 405 and json.loads(body) == {"error": "Method Not Allowed"}
            # revoke through HTTP
            auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
            status, _, body = await afetch(port, "POST", "/-/revoke", auth, b'{"session": "S1x"}')
            assert (status, json.loads(body)) == (
                200,
                {"invalidated": 1, "previously_invalidated": 0},
            )
            status, _, body = await afetch(port, "POST", "/-/revoke", {}, b'{"session": "S1x"}')
            assert status == 401
            status, _, _ = await afetch(port, "GET", "/-/revoke")
            assert status == 405
        finally:
            await runtime.close()
        # closed: the port no longer answers
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        records = audit_records(tmp_path / "audit.jsonl")
        assert [(r["event"], r["route"], r["status"]) for r in records] == [
            ("logout", "admin", 200),
            ("invalid_request", "admin", 401),
            ("invalid_request", "admin", 405),
        ]

    run(go())


def test_a_body_over_the_http_limit_never_reaches_the_handler(tmp_path):
    async def go():
        runtime = await start(load_config(admin_config(tmp_path)), background=False)
        try:
            port = runtime.admin.address[1]
            auth = {"Authorization": f"Bearer {TOKEN}"}
            try:
                status, _, _ = await afetch(port, "POST", "/-/revoke", auth, b"x" * (2 << 20))
            except (ConnectionError, http.client.HTTPException):
                status = None  # tornado closed the connection: also fine
            assert status in (None, 400, 413)
            status, _, _ = await afetch(
                port, "POST", "/-/revoke", auth, b"{" + b" " * 100_000 + b"}"
            )
            assert status == 413  # over limits.max_body_bytes: answered and audited
            assert (await afetch(port, "GET", "/-/live"))[0] == 200  # still serving
        finally:
            await runtime.close()

    run(go())


def test_admin_port_in_use_is_a_startup_error_and_nothing_stays_open(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = load_config(admin_config(tmp_path, listen=f"127.0.0.1:{port}"))

        async def go():
            with pytest.raises(StartupError) as err:
                await start(config, background=False)
            assert str(err.value) == (
                f"admin.listen: cannot listen on 127.0.0.1:{port}: already in use"
            )

        run(go())

    # the half-started runtime released the audit file: the next start works
    async def again():
        runtime = await start(config, background=False)
        await runtime.close()

    run(again())


def test_no_admin_server_without_admin_listen(tmp_path):
    async def go():
        runtime = await start(load_config(write_config(tmp_path)), background=False)
        assert runtime.admin is None
        await runtime.close()

    run(go())


def test_the_stock_addon_serves_admin_and_counts_its_decisions(tmp_path):
    config = admin_config(tmp_path)

    async def go():
        addon = LogoutGateway()
        with taddons.context(addon) as tctx:
            await started(tctx, addon, config)
            port = addon.runtime.admin.address[1]
            # a login learns a session, a logout revokes it, its reuse is refused
            login = flow("GET", "/web/?ticket=ST-1")
            await call_hook(addon.request, login)
            login.response = response(302, "JSESSIONID=abc123; Path=/")
            await call_hook(addon.response, login)
            await call_hook(addon.request, flow("POST", "/cas/logout", "JSESSIONID=abc123"))
            await call_hook(addon.request, flow("GET", "/web/api", "JSESSIONID=abc123"))
            _, _, body = await afetch(port, "GET", "/-/status.json")
            status = json.loads(body)
            assert status["requests"] == {
                "forwarded": 1,
                "answered": 1,
                "refused": 1,
                "unavailable": 0,
                "error": 0,
            }
            assert status["logouts"] == [
                {"route": "cas_logout", "reason": "manual", "outcome": "success", "count": 1}
            ]
            assert status["revoked_uses"] == 1 and status["live_revocations"] == 1
            assert [r["event"] for r in status["recent"]] == ["revoked_credential_use", "logout"]
            await addon.done()
        assert addon.runtime is None
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()

    run(go())
