"""CAS single logout through the real addon (issue 13): the back-channel POST is
recognised by content on any path, never streamed, and the source is the TCP
peer mitmproxy saw."""

from __future__ import annotations

from urllib.parse import urlencode

from gwtest import audit_records, call_hook
from mitmproxy.test import taddons
from test_addon import flow, response, run, started, write_config

from gateway.mitm import LogoutGateway

XML = (
    '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="1" '
    'Version="2.0" IssueInstant="2026-01-01T00:00:00.000001+00:00"><samlp:SessionIndex>'
    "ST-addon-1</samlp:SessionIndex></samlp:LogoutRequest>"
)


def slo_flow(peer: str = "127.0.0.1", body: bytes | None = None):
    body = body or urlencode({"logoutRequest": XML}).encode()
    f = flow("POST", "/web/index.html?x=1", body=body)
    f.request.headers["Content-Type"] = "application/x-www-form-urlencoded"
    f.request.headers["Content-Length"] = str(len(body))  # treq's fixed one says 7
    f.client_conn.peername = (peer, 40000)
    return f


def test_back_channel_post_through_the_addon(tmp_path):
    config = write_config(
        tmp_path,
        cas={
            "server_url": "https://cas.example.com/cas",
            "slo": {"allowed_sources": ["127.0.0.1/32"]},
        },
        limits={"max_body_bytes": 4096},
    )

    async def go():
        addon = LogoutGateway()
        with taddons.context(addon) as tctx:
            await started(tctx, addon, config)
            login = flow("GET", "/web/?ticket=ST-addon-1")
            await addon.request(login)
            login.response = response(302, "JSESSIONID=addon-s1; Path=/")
            await call_hook(addon.response, login)

            slo = slo_flow()
            slo.request.stream = True  # stock mitmdump with stream_large_bodies
            await call_hook(addon.requestheaders, slo)
            assert slo.request.stream is False and slo.response is None
            await addon.request(slo)
            assert slo.response is not None and slo.response.status_code == 200
            assert slo.response.content == b""
            assert slo.comment == "logout-gateway: cas_slo answered 200"

            reuse = flow("GET", "/web/api", cookie="JSESSIONID=addon-s1")
            await addon.request(reuse)
            assert reuse.response.status_code == 401

            foreign = slo_flow(peer="192.0.2.99")
            await addon.request(foreign)
            assert foreign.response.status_code == 403

            big = slo_flow(body=urlencode({"logoutRequest": XML + " " * 5000}).encode())
            big.request.stream = True
            await call_hook(addon.requestheaders, big)
            assert big.request.stream is True and big.response is None  # an ordinary upload
            await addon.done()

    run(go())
    records = audit_records(tmp_path / "audit.jsonl")
    assert [(r["event"], r["route"], r["status"], r["client"]) for r in records] == [
        ("logout", "cas_slo", 200, "127.0.0.1"),
        ("revoked_credential_use", None, 401, "127.0.0.1"),
        ("invalid_request", "cas_slo", 403, "192.0.2.99"),
    ]
