"""Full chain from recorded traffic, stock mitmproxy on both sides of the gateway:

    mitmdump -n -C (client replay) -> gateway run -> mitmdump -S (server replay)

`scripts/record_flows.py` records the scenarios with stock `mitmdump -w` in front of
the demo upstream, no gateway in the path. The client-replay mitmdump sends the
recorded requests, in order, to `gateway run`; the gateway's upstream is a
server-replay mitmdump answering with the recorded upstream responses, so no
hand-written upstream is in the chain. Both mitmdumps write what they saw (`-w`).

Wiring notes (mitmproxy 11.0.2):

* Client replay sends each flow to its recorded `request.host:port` (the demo
  upstream, gone by then): only `Master.load_flow` retargets flows in reverse mode,
  and `-C` does not go through it. `map_remote` runs in the request hook of the
  replayed flow, before the server connection is chosen, so it retargets them.
* Server replay hashes method, path, query and body, not headers: the cookie or
  token of a request is only part of the match with `server_replay_use_headers`.
  Without it every `GET /web/api/v2/clusters` shares one queue of recorded
  answers, and once the gateway swallows a refused reuse the next login's use pops
  the recorded 401 of that reuse.
* The gateway strips the foreign `service` of the CAS browser logout, so that
  request only matches its recording with `server_replay_ignore_params=service`;
  the answer it gets is still the one recorded for the unstripped request.
* Server replay runs before any forwarding: `connection_strategy=lazy` and
  `server_replay_extra=404` keep it off its (unused) reverse target entirely.

Values in the flows are credentials of the demo run: assertion messages show
statuses, methods and paths (query keys only), never header values or bodies.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from urllib.parse import parse_qsl, quote_plus

import pytest
from mitmproxy import http, io
from procs import BIN, ROOT, Proc, running_gateway, write_config

from gateway.saml.keys import generate_sp_keypair

pytestmark = pytest.mark.slow

SCENARIOS = ("cas", "saml", "bad", "oidc", "slo")
SERVICE_URL = "http://127.0.0.1:8080/web/"  # procs.write_config's cas.service_url
IDP_SLO = "https://idp.example.com/idp/profile/SAML2/Redirect/SLO"
API = "/web/api/v2/clusters"
LOGIN = "/web/?ticket="  # prefix: the tickets differ per recording
REVOKED_BODY = {"error": "credential_revoked"}
DEMO_SERVER = "demo-upstream/1.0"  # the recorded upstream's Server header

# What each recorded request must get through the chain.
UP = "upstream"  # forwarded; the recorded upstream answer (200/302)
FORWARDED_LOGOUT = "forwarded_logout"  # CAS browser logout: revoked, then forwarded
CAS_LOGOUT = "cas_logout"  # gateway: 200 {}
LOGOUT_ACTION = "logout_action"  # gateway: 302 to the CAS logout
SAML_LOGOUT = "saml_logout"  # gateway: 200 {"id", "redirect"} for a learned token
ES_400 = "es_400"  # gateway: Elasticsearch-style 400
ES_415 = "es_415"  # gateway: Elasticsearch-style 415
REVOKED = "revoked"  # gateway: 401 credential_revoked
BACKCHANNEL_OK = "backchannel_ok"  # gateway: 200, empty body (OIDC back-channel logout)
BACKCHANNEL_400 = "backchannel_400"  # gateway: 400 {"error": "invalid_request", …}
CAS_SLO = "cas_slo"  # gateway: 200, empty body (the CAS server's back-channel POST)
CAS_SLO_JSONP = "cas_slo_jsonp"  # gateway: 200 callback(true) (front channel)

FORWARDED = (UP, FORWARDED_LOGOUT)
Spec = list[tuple[str, str, str]]


def cas_spec() -> Spec:
    spec: Spec = []
    for logout in (
        ("POST", "/cas/logout", CAS_LOGOUT),
        ("GET", "/web/v1/logout_action?is_timeout_logout=true", LOGOUT_ACTION),
        ("GET", "/web/v1/logout_action?is_timeout_logout=null", LOGOUT_ACTION),
        ("GET", "/web/v1/logout_action", LOGOUT_ACTION),
        ("GET", "/cas/logout?service=https%3A%2F%2Fevil.example%2F", FORWARDED_LOGOUT),
    ):
        spec += [("GET", LOGIN, UP), ("GET", API, UP), logout, ("GET", API, REVOKED)]
    return spec


SAML_SPEC: Spec = [
    ("POST", "/_security/saml/authenticate", UP),  # alice
    ("POST", "/_security/saml/authenticate", UP),  # bob
    ("GET", "/_security/_authenticate", UP),  # alice's first access token
    ("POST", "/_security/oauth2/token", UP),  # refresh of alice's first pair
    ("GET", "/_security/_authenticate", UP),  # alice's new access token
    ("POST", "/_security/saml/logout", SAML_LOGOUT),  # logout with the new token
    ("GET", "/_security/_authenticate", REVOKED),  # new access token
    ("GET", "/_security/_authenticate", REVOKED),  # superseded first access token
    ("POST", "/_security/oauth2/token", REVOKED),  # new refresh token
    ("POST", "/_security/saml/logout", SAML_LOGOUT),  # bob, both tokens
    ("GET", "/demo-index/_search", REVOKED),  # bob's access token
    ("POST", "/_security/oauth2/token", REVOKED),  # bob's refresh token
]
# The superseded access token: the upstream still honoured it when recorded.
SAML_SUPERSEDED = 7


def bad_spec() -> Spec:
    logout = "/_security/saml/logout"
    spec: Spec = [("POST", logout, ES_400)] * 3 + [("POST", logout, ES_415)]
    for path in ("//cas//logout", "/cas/logout;jsessionid=0A1B", "/%63as/logout/"):
        spec += [("GET", LOGIN, UP), ("POST", path, CAS_LOGOUT), ("GET", API, REVOKED)]
    spec.append(
        (
            "GET",
            "/web/v1/logout_action?is_timeout_logout=true&is_timeout_logout=true",
            LOGOUT_ACTION,
        )
    )
    # logged out by cookie, then the same id in the URL (URL rewriting)
    spec += [
        ("GET", LOGIN, UP),
        ("POST", "/cas/logout", CAS_LOGOUT),
        ("GET", f"{API};jsessionid=", REVOKED),
        ("GET", f"{API}?JSESSIONID=", REVOKED),
    ]
    return spec


ME = "/_security/_authenticate"
OIDC_AUTH = "/_security/oidc/authenticate"
TOKEN_API = "/_security/oauth2/token"
BACKCHANNEL = "/-/oidc/backchannel-logout"
OIDC_SPEC: Spec = [
    ("POST", OIDC_AUTH, UP),  # alice, first session
    ("POST", OIDC_AUTH, UP),  # alice, second session
    ("POST", OIDC_AUTH, UP),  # bob
    ("GET", ME, UP),
    ("POST", "/_security/oidc/logout", FORWARDED_LOGOUT),  # revoked, then forwarded
    ("GET", ME, REVOKED),
    ("POST", TOKEN_API, REVOKED),  # its refresh token
    ("DELETE", TOKEN_API, FORWARDED_LOGOUT),  # {token}: revoked, then forwarded
    ("GET", ME, REVOKED),
    ("POST", OIDC_AUTH, UP),  # carol, two sessions
    ("POST", OIDC_AUTH, UP),
    ("POST", BACKCHANNEL, BACKCHANNEL_OK),  # sid of carol's first session
    ("GET", ME, REVOKED),
    ("GET", ME, UP),  # her second session
    ("POST", BACKCHANNEL, BACKCHANNEL_400),  # the same token again
    ("POST", BACKCHANNEL, BACKCHANNEL_OK),  # sub: every session of carol
    ("GET", ME, REVOKED),
    ("DELETE", TOKEN_API, ES_400),  # token and refresh_token
    ("DELETE", TOKEN_API, FORWARDED_LOGOUT),  # {username}: revoked on the upstream's 200
    ("GET", ME, REVOKED),
]
SLO_SPEC: Spec = [
    ("GET", LOGIN, UP),
    ("GET", API, UP),
    ("POST", "/web/", CAS_SLO),  # back-channel logoutRequest for the ticket
    ("GET", API, REVOKED),
    ("POST", "/web/", CAS_SLO),  # for a ticket nobody learned
    ("GET", LOGIN, UP),
    ("GET", API, UP),
    ("GET", "/web/?callback=", CAS_SLO_JSONP),  # front channel
    ("GET", API, REVOKED),
]

SPECS: dict[str, Spec] = {
    "cas": cas_spec(),
    "saml": SAML_SPEC,
    "bad": bad_spec(),
    "oidc": OIDC_SPEC,
    "slo": SLO_SPEC,
}


# --------------------------------------------------------------------------- helpers


def load_recorder() -> ModuleType:
    path = ROOT / "scripts" / "record_flows.py"
    spec = importlib.util.spec_from_file_location("record_flows", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("record_flows", module)
    spec.loader.exec_module(module)
    return module


def read_flows(path: Path) -> list[http.HTTPFlow]:
    with path.open("rb") as f:
        return [fl for fl in io.FlowReader(f).stream() if isinstance(fl, http.HTTPFlow)]


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def show(flow: http.HTTPFlow) -> str:
    """Method and path for messages: query keys only (tickets stay out)."""
    path, _, query = flow.request.path.partition("?")
    keys = "&".join(k for k, _ in parse_qsl(query, keep_blank_values=True))
    return f"{flow.request.method} {path}" + (f"?{keys}" if keys else "")


def matches(flow: http.HTTPFlow, method: str, path: str) -> bool:
    got = flow.request.path
    return flow.request.method == method and (
        got == path or (path.endswith("=") and got.startswith(path))
    )


def body_json(flow: http.HTTPFlow) -> object:
    assert flow.response is not None
    try:
        return json.loads(flow.response.content or b"null")
    except ValueError:
        return None


def expires_session_cookie(resp: http.Response) -> bool:
    return any(
        v.startswith("JSESSIONID=;") and "Max-Age=0" in v
        for v in resp.headers.get_all("set-cookie")
    )


def credentials(flow: http.HTTPFlow) -> tuple[str | None, str | None, bytes | None]:
    r = flow.request
    return r.headers.get("cookie"), r.headers.get("authorization"), r.raw_content


# --------------------------------------------------------------------------- per-flow checks


def check(kind: str, where: str, got: http.HTTPFlow, recorded: http.HTTPFlow, ctx: dict) -> None:
    resp, rec = got.response, recorded.response
    assert resp is not None and rec is not None, f"{where}: no response ({got.error})"
    status = resp.status_code
    from_upstream = resp.headers.get("server") == DEMO_SERVER
    if kind in FORWARDED:
        assert from_upstream, f"{where}: {status} was not the upstream's recorded answer"
        assert status == rec.status_code, f"{where}: {status}, recorded {rec.status_code}"
        same_body = resp.content == rec.content
        assert same_body, f"{where}: body differs from the recorded upstream answer"
        if kind == UP:
            assert status in (200, 302), f"{where}: recorded {status}"
        return
    # Everything else is the gateway's own answer: the recorded one never came back.
    assert not from_upstream, f"{where}: {status} came from the upstream"
    assert resp.headers.get("cache-control") == "no-store", f"{where}: {status} cacheable"
    body = body_json(got)
    if kind == REVOKED:
        assert status == 401, f"{where}: {status}, expected 401 credential_revoked"
        revoked = body == REVOKED_BODY
        assert revoked, f"{where}: 401 without credential_revoked"
        if "authorization" in got.request.headers:
            assert resp.headers.get("www-authenticate") == 'Bearer error="invalid_token"', where
        if "cookie" in got.request.headers:
            assert expires_session_cookie(resp), f"{where}: revoked cookie not expired"
    elif kind == CAS_LOGOUT:
        empty = body == {}
        assert status == 200 and empty, f"{where}: {status}, expected 200 {{}}"
        assert expires_session_cookie(resp), f"{where}: session cookie not expired"
    elif kind == LOGOUT_ACTION:
        location = resp.headers.get("location")
        assert status == 302, f"{where}: {status}, expected 302"
        to_cas = location == ctx["cas_logout_url"]
        assert to_cas, f"{where}: Location is not the CAS logout"
        carried = body == {"redirect": location}
        assert carried, f"{where}: body does not carry the redirect"
    elif kind == SAML_LOGOUT:
        assert status == 200, f"{where}: {status}, expected 200"
        assert isinstance(body, dict) and set(body) == {"id", "redirect"}, f"{where}: body keys"
        has_id = isinstance(body["id"], str) and bool(body["id"])
        assert has_id, f"{where}: null id"
        redirect = body["redirect"]
        assert isinstance(redirect, str), f"{where}: null redirect for a learned token"
        to_idp = redirect.startswith(f"{IDP_SLO}?SAMLRequest=")
        assert to_idp, f"{where}: redirect is not to the configured IdP SLO"
        signed = "&SigAlg=" in redirect and "&Signature=" in redirect
        assert signed, f"{where}: redirect is not signed"
    elif kind == BACKCHANNEL_OK:
        assert status == 200 and not resp.content, f"{where}: {status}, expected an empty 200"
    elif kind == BACKCHANNEL_400:
        assert status == 400, f"{where}: {status}, expected 400"
        refused = isinstance(body, dict) and body.get("error") == "invalid_request"
        assert refused, f"{where}: not an invalid_request answer"
    elif kind == CAS_SLO:
        assert (status, resp.content) == (200, b""), f"{where}: {status}, expected 200 and no body"
    elif kind == CAS_SLO_JSONP:
        assert status == 200 and resp.content == b"jQuery1_2(true)", f"{where}: {status}"
        jsonp = resp.headers.get("content-type", "").startswith("application/javascript")
        assert jsonp, f"{where}: not application/javascript"
    elif kind in (ES_400, ES_415):
        expected = 400 if kind == ES_400 else 415
        assert status == expected, f"{where}: {status}, expected {expected}"
        assert isinstance(body, dict) and body.get("status") == expected, f"{where}: body"
        error = body.get("error")
        assert isinstance(error, dict) and set(error) == {"type", "reason"}, f"{where}: error"
    else:  # pragma: no cover
        raise AssertionError(f"unknown expectation {kind}")


# --------------------------------------------------------------------------- processes


def mitmdump(*args: str, confdir: Path) -> list[str]:
    # flow_detail=0: the stock dumper would print every URL (tickets) and more.
    return [
        str(BIN / "mitmdump"),
        "--set",
        f"confdir={confdir}",
        "--set",
        "flow_detail=0",
        *args,
    ]


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[dict[str, Path]]:
    paths = load_recorder().record(tmp_path / "flows", list(SCENARIOS))
    yield dict(zip(SCENARIOS, paths, strict=True))


def test_client_replay_through_gateway_to_server_replay(tmp_path, recorded):
    confdir = tmp_path / "mitmproxy"
    served_file = tmp_path / "served.mitm"
    out_file = tmp_path / "replayed.mitm"
    flow_files = [str(recorded[name]) for name in SCENARIOS]

    # The recordings are what the expectations describe.
    flows = {name: read_flows(recorded[name]) for name in SCENARIOS}
    for name, spec in SPECS.items():
        assert len(flows[name]) == len(spec), f"{name}: {len(flows[name])} flows recorded"
        for i, ((method, path, _), fl) in enumerate(zip(spec, flows[name], strict=True)):
            assert matches(fl, method, path), f"{name}[{i}]: recorded {show(fl)}"
            assert fl.response is not None, f"{name}[{i}]: recorded without a response"
    superseded = flows["saml"][SAML_SUPERSEDED].response
    assert superseded is not None and superseded.status_code == 200

    server_args = [
        "--mode",
        f"reverse:http://127.0.0.1:{unused_port()}@127.0.0.1:0",
        "--set",
        "connection_strategy=lazy",
        "--set",
        "keepserving=true",  # or it exits once every recorded answer is used
        "--set",
        "server_replay_ignore_host=true",
        "--set",
        "server_replay_ignore_port=true",
        "--set",
        "server_replay_reuse=false",  # identical requests: recorded answers in order
        "--set",
        "server_replay_extra=404",
        "--set",
        "server_replay_use_headers=Cookie",
        "--set",
        "server_replay_use_headers=Authorization",
        "--set",
        "server_replay_ignore_params=service",
        "-w",
        str(served_file),
    ]
    for path in flow_files:
        server_args += ["-S", path]
    server = Proc(
        mitmdump(*server_args, confdir=confdir),
        r"listening at 127\.0\.0\.1:(\d+)",
        cwd=tmp_path,
    )
    try:
        replay_url = f"http://127.0.0.1:{int(server.wait_ready().group(1))}"
        key, cert = generate_sp_keypair(tmp_path / "sp", alg="rsa")
        recorder = load_recorder()
        config = write_config(
            tmp_path,
            replay_url,
            routes={"saml_logout": {"mode": "short_circuit"}},
            # the recorder played the OP: its issuer, and the JWKS it wrote by the flows
            oidc={
                "issuer": recorder.OIDC_ISSUER,
                "client_id": recorder.OIDC_CLIENT_ID,
                "jwks_file": str(recorded["cas"].parent / recorder.OIDC_JWKS),
            },
            saml={
                "sp_entity_id": "http://127.0.0.1:8080/",
                "idp_entity_id": "https://idp.example.com/idp",
                "idp_slo_url": IDP_SLO,
                "sp_slo_url": "http://127.0.0.1:8080/logout",
                "sig_alg": "rsa-sha256",
                "sp_key_file": str(key),
                "sp_cert_file": str(cert),
            },
            # client replay sends from 127.0.0.1, where the CAS server posted from
            cas={"slo": {"allowed_sources": ["127.0.0.1/32"], "front_channel": True}},
        )
        with running_gateway(config) as gw:
            client_args = [
                "-n",
                "--set",
                "client_replay_concurrency=1",
                "--set",
                "termlog_verbosity=warn",
                "--map-remote",
                f"|^http://[^/]+|http://127.0.0.1:{gw.port}",
                "-w",
                str(out_file),
            ]
            for path in flow_files:
                client_args += ["-C", path]
            # With -n and -C, mitmdump exits once the replay queue is empty.
            done = subprocess.run(
                mitmdump(*client_args, confdir=confdir),
                cwd=tmp_path,
                capture_output=True,
                timeout=60,
            )
            assert done.returncode == 0, f"client replay exited {done.returncode}"
        assert server.stop() == 0, "server replay did not stop cleanly"
    finally:
        server.stop()
    unmatched = sum("non-replay request" in line for line in server.output)
    assert unmatched == 0, f"{unmatched} forwarded requests matched no recording"

    # --- what the client got, flow by flow (client replay keeps the flow ids)
    replayed = read_flows(out_file)
    by_id = {fl.id: fl for fl in replayed}
    ordered = [fl.id for name in SCENARIOS for fl in flows[name]]
    assert [fl.id for fl in replayed] == ordered, "replay did not send every flow, in order"
    ctx = {"cas_logout_url": f"{replay_url}/cas/logout?service={quote_plus(SERVICE_URL, safe='')}"}
    forwarded: list[tuple[str, http.HTTPFlow, http.HTTPFlow]] = []
    for name in SCENARIOS:
        for i, ((_, _, kind), rec) in enumerate(zip(SPECS[name], flows[name], strict=True)):
            got = by_id[rec.id]
            where = f"{name}[{i}] {show(got)}"
            check(kind, where, got, rec, ctx)
            if kind in FORWARDED:
                forwarded.append((where, got, rec))

    # --- what reached the upstream: exactly the forwarded requests, in order; no
    # logout the gateway answered and no refused credential ever got there.
    served = read_flows(served_file)
    assert len(served) == len(forwarded), (
        f"upstream served {len(served)} requests, expected {len(forwarded)}: "
        + ", ".join(show(fl) for fl in served)
    )
    for s, (where, got, rec) in zip(served, forwarded, strict=True):
        assert s.is_replay == "response", f"{where}: upstream side answered live"
        assert s.request.method == rec.request.method, f"{where}: upstream saw {show(s)}"
        # The gateway removes the foreign service of the CAS browser logout.
        sent = "/cas/logout" if rec.request.path.startswith("/cas/logout?") else rec.request.path
        same = s.request.path == sent
        assert same, f"{where}: upstream saw {show(s)}"
        same = credentials(s) == credentials(rec)
        assert same, f"{where}: cookie, authorization or body changed on the way"
        assert s.response is not None and got.response is not None
        same = (s.response.status_code, s.response.content) == (
            got.response.status_code,
            got.response.content,
        )
        assert same, f"{where}: the client did not get what the upstream side served"
