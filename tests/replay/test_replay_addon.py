"""Recorded flows (FlowReader) driven through the real addon, one decision each."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from gwtest import call_hook
from mitmproxy.io import FlowReader
from mitmproxy.test import taddons

from gateway.mitm import HANDLED, LogoutGateway
from gateway.saml.keys import generate_sp_keypair

F = "forward"
R = "respond"

# (decision, status) per flow, in recorded order. Forwarded flows get the
# recorded upstream status; the gateway's own answers are checked exactly.
EXPECTED = {
    "cas": [
        (F, 302),
        (F, 200),
        (R, 200),
        (R, 401),  # POST /cas/logout
        (F, 302),
        (F, 200),
        (R, 302),
        (R, 401),  # logout_action timeout
        (F, 302),
        (F, 200),
        (R, 302),
        (R, 401),  # logout_action null
        (F, 302),
        (F, 200),
        (R, 302),
        (R, 401),  # logout_action (no parameter)
        (F, 302),
        (F, 200),
        (F, 302),
        (R, 401),  # GET /cas/logout?service=evil: forwarded, service removed
    ],
    "saml": [
        (F, 200),
        (F, 200),
        (F, 200),
        (F, 200),
        (F, 200),  # 2 logins, use, refresh, use
        (R, 200),
        (R, 401),
        (R, 401),
        (R, 401),  # logout; new bearer, old bearer, new refresh
        (R, 200),
        (R, 401),
        (R, 401),  # second user: logout with both; bearer; refresh
    ],
    "bad": [
        (R, 400),
        (R, 400),
        (R, 400),
        (R, 415),
        (F, 302),
        (R, 200),
        (R, 401),  # //cas//logout
        (F, 302),
        (R, 200),
        (R, 401),  # ;jsessionid=
        (F, 302),
        (R, 200),
        (R, 401),  # %63as, trailing slash
        (R, 302),  # repeated is_timeout_logout
        (F, 302),
        (R, 200),
        (R, 401),
        (R, 401),  # logged out, then the id in the URL: ;jsessionid= and ?JSESSIONID=
    ],
    "oidc": [
        (F, 200),
        (F, 200),
        (F, 200),
        (F, 200),  # alice twice, bob; use
        (F, 200),  # oidc/logout: revoked, then forwarded
        (R, 401),
        (R, 401),  # its access and refresh token
        (F, 200),  # DELETE oauth2/token {token}: revoked, then forwarded
        (R, 401),
        (F, 200),
        (F, 200),  # carol twice
        (R, 200),  # back-channel logout for carol's first sid
        (R, 401),  # that session
        (F, 200),  # her other session still works
        (R, 400),  # the same logout token again: replay
        (R, 200),  # back-channel logout for carol's sub
        (R, 401),  # every session of carol
        (R, 400),  # DELETE with token and refresh_token
        (F, 200),  # DELETE {username: bob}: revoked once the upstream said 200
        (R, 401),
    ],
    "slo": [
        (F, 302),
        (F, 200),  # CAS ticket login, use
        (R, 200),  # the CAS server's back-channel logoutRequest (route cas_slo)
        (R, 401),  # reuse
        (R, 200),  # a logoutRequest for a ticket nobody learned: 200 all the same
        (F, 302),
        (F, 200),  # second login, use
        (R, 200),  # front-channel JSONP logout
        (R, 401),  # reuse (the upstream, which ignores front-channel, still said 200)
    ],
}

# The recorder plays the OP (scripts/record_flows.py).
OIDC_ISSUER = "https://op.example.com/realms/demo"
OIDC_CLIENT_ID = "demo-kibana"
JWKS = Path(__file__).resolve().parents[1] / "flows" / "oidc-jwks.json"


def config_for_replay(tmp: Path) -> Path:
    """Both `gateway replay` (the clock at each flow's time) and the addon (the wall
    clock) run it: the recorded logout tokens carry the recording's `iat`, and the
    captures may be days old, so the leeway is wide here."""
    key, cert = generate_sp_keypair(tmp / "sp")
    data = {
        "upstream": "http://127.0.0.1:9",
        "state_dir": "state",
        "store": {"backend": "memory"},
        "audit": {"path": "audit.jsonl", "fsync": False},
        "cas": {
            "server_url": "https://cas.example.com:20009/cas",
            "service_url": "https://manager.example.com/web/",
            "allowed_service_hosts": ["manager.example.com"],
            # The recordings' client is 127.0.0.1, as the CAS server would be.
            "slo": {"allowed_sources": ["127.0.0.1/32"], "front_channel": True},
        },
        "saml": {
            "sp_entity_id": "http://127.0.0.1:8080/",
            "idp_slo_url": "https://idp.example.com/idp/slo",
            "sp_key_file": str(key),
            "sp_cert_file": str(cert),
            "clock_skew": "3650d",
        },
        "oidc": {"issuer": OIDC_ISSUER, "client_id": OIDC_CLIENT_ID, "jwks_file": str(JWKS)},
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def read(path: Path):
    with path.open("rb") as f:
        return list(FlowReader(f).stream())


@pytest.mark.parametrize("scenario", ["cas", "saml", "bad", "oidc", "slo"])
def test_recorded_flows_through_the_addon(tmp_path, flows, scenario):
    config = config_for_replay(tmp_path)
    recorded = read(flows[scenario])
    assert len(recorded) == len(EXPECTED[scenario])

    async def go():
        addon = LogoutGateway()
        seen = []
        with taddons.context(addon) as tctx:
            tctx.configure(addon, gateway_config=str(config))
            await addon.running()
            for flow in recorded:
                upstream_answer = flow.response
                flow.response = None  # the gateway decides first, as live
                await call_hook(addon.requestheaders, flow)
                await addon.request(flow)
                if flow.response is not None:
                    seen.append((R, flow.response.status_code, flow))
                else:
                    assert flow.metadata[HANDLED] == "forwarded"
                    flow.response = upstream_answer
                    await call_hook(addon.response, flow)  # learning from the recorded answer
                    seen.append((F, flow.response.status_code, flow))
            await addon.done()
        return seen

    seen = asyncio.run(go())
    got = [(d, s) for d, s, _ in seen]
    assert got == EXPECTED[scenario], [
        f"{f.request.method} {f.request.path.split('?')[0]}" for _, _, f in seen
    ]
    for decision, status, flow in seen:
        if decision == R and status == 401:
            assert json.loads(flow.response.content) == {"error": "credential_revoked"}
        if (
            decision == R
            and flow.request.path.startswith("/_security/saml/logout")
            and status == 200
        ):
            answer = json.loads(flow.response.content)
            assert answer["redirect"].startswith("https://idp.example.com/idp/slo?SAMLRequest=")
        if scenario == "slo" and decision == R and status == 200:
            assert "logout-gateway: cas_slo answered 200" in flow.comment
            if flow.request.method == "GET":
                assert flow.response.content == b"jQuery1_2(true)"
