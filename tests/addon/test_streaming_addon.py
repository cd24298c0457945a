"""Issue 16 in the real addon under taddons: where the decision is taken for a
request with a body (SPEC §9), and how bodies the gateway reads are marked.
tests/e2e/test_streaming_e2e.py proves the same with real processes and bytes."""

from __future__ import annotations

import asyncio
import json

from gwtest import audit_records, call_hook
from mitmproxy.proxy.layers import http as http_layer
from mitmproxy.test import taddons
from test_addon import flow, response, saml_config, started, write_config

from gateway.config import load_config
from gateway.mitm import HANDLED, LogoutGateway, streaming_advice
from gateway.mitm_bodies import ANSWERED, BODY_CAP, GatewayHttpStream, install


def run(coro):
    return asyncio.run(coro)


def with_body(method, path, *, length=None, chunked=False, cookie=None, body=b""):
    f = flow(method, path, cookie=cookie, body=body)
    f.request.headers.pop("content-length", None)
    if chunked:
        f.request.headers["Transfer-Encoding"] = "chunked"
    elif length is not None:
        f.request.headers["Content-Length"] = str(length)
    return f


def test_the_layer_is_installed_when_the_addon_loads():
    addon = LogoutGateway()
    with taddons.context(addon):
        assert http_layer.HttpStream is GatewayHttpStream
    assert install() is True  # idempotent


def test_a_request_without_a_body_is_decided_in_request_as_before(tmp_path):
    config = write_config(tmp_path)

    async def go():
        addon = LogoutGateway()
        with taddons.context(addon) as tctx:
            await started(tctx, addon, config)
            f = with_body("GET", "/web/api")
            assert addon.requestheaders(f) is None
            assert HANDLED not in f.metadata
            await addon.done()

    run(go())


def test_a_body_declared_within_the_cap_is_decided_in_request_with_its_body(tmp_path):
    # Buffered whole (at most max_body_bytes), so routes found by content see it.
    config = write_config(tmp_path)

    async def go():
        addon = LogoutGateway()
        with taddons.context(addon) as tctx:
            await started(tctx, addon, config)
            f = with_body("POST", "/web/api", length=65536)
            assert addon.requestheaders(f) is None
            over = with_body("POST", "/web/api", length=65537)
            await call_hook(addon.requestheaders, over)
            assert over.metadata[HANDLED] == "forwarded"  # decided on the headers
            await addon.done()

    run(go())


def test_revoked_credential_with_a_body_is_answered_at_the_headers(tmp_path):
    config = write_config(tmp_path)

    async def go():
        addon = LogoutGateway()
        with taddons.context(addon) as tctx:
            await started(tctx, addon, config)
            await addon.request(flow("POST", "/cas/logout", cookie="JSESSIONID=up"))
            for framing in ({"length": 100 * 1024 * 1024}, {"chunked": True}):
                f = with_body("PUT", "/_bulk", cookie="JSESSIONID=up", **framing)
                f.request.headers["Expect"] = "100-continue"
                f.request.stream = "length" in framing  # as mitmproxy sets it by size
                await call_hook(addon.requestheaders, f)
                assert f.response.status_code == 401
                assert f.metadata[ANSWERED] is True and f.request.stream is False
                assert "expect" not in f.request.headers  # no "100 Continue" to a refusal
                await addon.request(f)  # decided once
            records = [
                r
                for r in audit_records(tmp_path / "audit.jsonl")
                if r["event"] == "revoked_credential_use"
            ]
            assert len(records) == 2
            await addon.done()

    run(go())


def test_allowed_request_with_a_body_is_forwarded_at_the_headers(tmp_path):
    config = write_config(tmp_path)

    async def go():
        addon = LogoutGateway()
        with taddons.context(addon) as tctx:
            await started(tctx, addon, config)
            f = with_body("POST", "/_bulk", chunked=True)
            await call_hook(addon.requestheaders, f)
            assert f.response is None and f.metadata[HANDLED] == "forwarded"
            assert ANSWERED not in f.metadata and BODY_CAP not in f.metadata
            await addon.done()

    run(go())


def test_logout_body_within_the_cap_is_read_capped_and_decided_in_request(tmp_path):
    config = saml_config(tmp_path)

    async def go():
        addon = LogoutGateway()
        with taddons.context(addon) as tctx:
            await started(tctx, addon, config)
            for framing in ({"length": 22}, {"chunked": True}):
                f = with_body("POST", "/_security/saml/logout", **framing)
                f.request.stream = True
                await call_hook(addon.requestheaders, f)
                assert f.response is None and HANDLED not in f.metadata
                assert f.request.stream is False and f.metadata[BODY_CAP] == 65536
                f.request.content = b'{"token": "opaque-21"}'
                await addon.request(f)
                assert f.response.status_code == 200
            await addon.done()

    run(go())


def test_logout_body_declared_over_the_cap_is_413_at_the_headers(tmp_path):
    config = saml_config(tmp_path)

    async def go():
        addon = LogoutGateway()
        with taddons.context(addon) as tctx:
            await started(tctx, addon, config)
            f = with_body("POST", "/_security/saml/logout", length=100 * 1024 * 1024)
            f.request.stream = True
            await call_hook(addon.requestheaders, f)
            assert f.response.status_code == 413 and f.metadata[ANSWERED] is True
            assert BODY_CAP not in f.metadata
            record = audit_records(tmp_path / "audit.jsonl")[-1]
            assert (record["route"], record["status"]) == ("saml_logout", 413)
            await addon.done()

    run(go())


def test_chunked_body_past_the_cap_is_decided_on_what_arrived(tmp_path):
    config = saml_config(tmp_path)

    async def go():
        addon = LogoutGateway()
        with taddons.context(addon) as tctx:
            await started(tctx, addon, config)
            cap = load_config(config).limits.max_body_bytes
            # What gateway.mitm_bodies hands over: the bytes so far, more than the cap.
            logout = with_body("POST", "/_security/saml/logout", chunked=True, body=b"x" * cap)
            logout.request.content = b"{" * (cap + 1)
            await addon.logout_gateway_body_over_cap(logout)
            assert logout.response.status_code == 413
            assert json.loads(logout.response.content)["status"] == 413
            # A learning body over the cap: the login goes on, nothing learned.
            login = with_body("POST", "/_security/saml/authenticate", chunked=True)
            login.request.content = b"{" * (cap + 1)
            await addon.logout_gateway_body_over_cap(login)
            assert login.response is None and login.metadata[HANDLED] == "forwarded"
            await addon.done()

    run(go())


def test_streaming_advice_for_stock_mitmproxy(tmp_path):
    config = load_config(write_config(tmp_path))
    assert streaming_advice(config, None) == (
        "stream_large_bodies is not set: every body is held whole in memory; "
        "add --set stream_large_bodies=1048576 (limits.stream_bodies_over)"
    )
    below = streaming_advice(config, "16k")
    assert below is not None and "below limits.max_body_bytes (65536)" in below
    assert streaming_advice(config, "1m") is None
    assert streaming_advice(config, "1048576") is None


def test_a_streamed_token_answer_teaches_nothing_and_says_so(tmp_path, caplog):
    # Over stream_large_bodies a token API answer goes to the client streamed;
    # the response hook then sees no body: nothing learned, a warning, no 503.
    config = write_config(tmp_path)

    async def go():
        addon = LogoutGateway()
        with taddons.context(addon) as tctx:
            await started(tctx, addon, config)
            f = with_body("POST", "/_security/oauth2/token", length=2)
            f.request.content = b"{}"
            f.response = response(200)
            f.response.stream = True
            f.response.content = None
            with caplog.at_level("WARNING", logger="gateway"):
                await call_hook(addon.response, f)
            assert f.response.status_code == 200
            assert "streamed (over stream_large_bodies); nothing learned" in caplog.text
            await addon.done()

    run(go())
