"""The demo upstream (scripts/demo_upstream.py), exercised in-process over HTTP."""

from __future__ import annotations

import base64
import hashlib
import http.client
import importlib.util
import json
import re
import signal
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
from children import child_env

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "demo_upstream.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_upstream", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


demo = _load()


def fp(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


class Client:
    def __init__(self, port: int) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        conn: http.client.HTTPConnection | None = None,
    ) -> tuple[int, http.client.HTTPResponse, bytes]:
        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        data = json.dumps(body).encode() if isinstance(body, dict | list) else body
        hdrs = dict(headers or {})
        if isinstance(body, dict | list):
            hdrs.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            payload = resp.read()
            return resp.status, resp, payload
        finally:
            if own:
                conn.close()

    def json(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
        status, _, payload = self.request(method, path, body, headers)
        return status, json.loads(payload)

    def log(self) -> list[dict[str, Any]]:
        status, entries = self.json("GET", "/__demo/requests")
        assert status == 200
        return entries  # type: ignore[no-any-return]


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "requests.jsonl"


@pytest.fixture
def client(log_path: Path) -> Iterator[Client]:
    server = demo.make_server("127.0.0.1", 0, log_path, None)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Client(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def cas_login(client: Client, path: str = "/web/index.html") -> str:
    """Ticket login through the demo CAS; returns the JSESSIONID."""
    status, resp, _ = client.request("GET", f"/cas/login?service={client.base}{path}")
    assert status == 302
    location = resp.getheader("Location")
    assert location is not None and location.startswith(client.base + path + "?ticket=ST-")
    status, resp, _ = client.request("GET", location.removeprefix(client.base))
    assert status == 302
    assert resp.getheader("Location") == path
    match = re.fullmatch(
        r"JSESSIONID=([0-9A-F]{32}); Path=/; HttpOnly", resp.getheader("Set-Cookie")
    )
    assert match
    return match.group(1)


def saml_response(name_id: str = "alice", session_index: str = "_sess-1") -> str:
    xml = f"""<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"
        xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0"
        IssueInstant="2024-01-01T00:00:00Z" InResponseTo="_req1">
      <saml:Issuer>https://idp.example.com</saml:Issuer>
      <samlp:Status><samlp:StatusCode
          Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
      <saml:Assertion ID="_a1" Version="2.0" IssueInstant="2024-01-01T00:00:00Z">
        <saml:Issuer>https://idp.example.com</saml:Issuer>
        <saml:Subject>
          <saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
              NameQualifier="https://idp.example.com">{name_id}</saml:NameID>
        </saml:Subject>
        <saml:AuthnStatement AuthnInstant="2024-01-01T00:00:00Z"
            SessionIndex="{session_index}"/>
      </saml:Assertion>
    </samlp:Response>"""
    return base64.b64encode(xml.encode()).decode()


def inflate(value: str) -> str:
    return zlib.decompress(base64.b64decode(value), -15).decode()


# --------------------------------------------------------------------------- MRS / CAS


def test_ticket_login_sets_session_and_protected_api_works(client: Client) -> None:
    sid = cas_login(client)
    status, body = client.json("GET", "/web/api/v2/clusters", Cookie=f"JSESSIONID={sid}")
    assert status == 200 and body["clusters"]
    status, body = client.json("GET", "/web/api/v2/clusters")
    assert status == 401 and body == {"errorCode": "UNAUTHORIZED", "errorMsg": body["errorMsg"]}
    status, _ = client.json("GET", "/web/api/v2/clusters", Cookie="JSESSIONID=" + "0" * 32)
    assert status == 401


def test_ticket_is_single_use_and_must_be_a_service_ticket(client: Client) -> None:
    _, resp, _ = client.request("GET", f"/cas/login?service={client.base}/web/")
    location = resp.getheader("Location").removeprefix(client.base)
    assert client.request("GET", location)[0] == 302
    assert client.request("GET", location)[0] == 401  # replayed ticket
    assert client.request("GET", "/web/?ticket=PGT-123")[0] == 401
    # unknown ST-* tickets are accepted (the demo has no real ticket registry to ask)
    status, resp, _ = client.request("GET", "/web/x?lang=en&ticket=ST-unknown")
    assert status == 302 and resp.getheader("Location") == "/web/x?lang=en"


def test_login_as_a_named_user_and_the_user_header(client: Client) -> None:
    # the default user, for tickets the demo CAS never issued
    _, resp, _ = client.request("GET", "/web/?ticket=ST-unknown-2")
    assert resp.getheader("X-Authenticated-User") == "admin"
    _, resp, _ = client.request("GET", f"/cas/login?service={client.base}/web/&username=bob")
    location = resp.getheader("Location").removeprefix(client.base)
    status, resp, _ = client.request("GET", location)
    assert status == 302 and resp.getheader("X-Authenticated-User") == "bob"
    sid = resp.getheader("Set-Cookie").split(";")[0].split("=", 1)[1]
    status, body = client.json("GET", "/web/v1/whoami", Cookie=f"JSESSIONID={sid}")
    assert status == 200 and body["user"] == "bob"
    assert client.request("GET", "/cas/login?service=http://x/&username=a%20b")[0] == 400


def test_unauthenticated_page_redirects_to_cas_login(client: Client) -> None:
    status, resp, _ = client.request("GET", "/web/index.html")
    assert status == 302
    assert resp.getheader("Location") == (
        f"{client.base}/cas/login?service=" + quote_plus(client.base + "/web/index.html", safe="")
    )


def test_mrs_cas_logout_ends_session(client: Client) -> None:
    sid = cas_login(client)
    status, resp, body = client.request(
        "POST", "/cas/logout", headers={"Cookie": f"JSESSIONID={sid}"}
    )
    assert status == 200 and json.loads(body) == {}
    assert resp.getheader("Content-Type") == "application/json"
    assert resp.getheader("Set-Cookie") == "JSESSIONID=; Path=/; Max-Age=0"
    assert client.json("GET", "/web/api/v2/clusters", Cookie=f"JSESSIONID={sid}")[0] == 401


def test_logout_action_redirects_to_cas_logout(client: Client) -> None:
    sid = cas_login(client)
    status, resp, body = client.request(
        "GET",
        "/web/v1/logout_action?is_timeout_logout=null",
        headers={"Cookie": f"JSESSIONID={sid}"},
    )
    expected = f"{client.base}/cas/logout?service=" + quote_plus(client.base + "/web/")
    assert status == 302
    assert resp.getheader("Location") == expected
    assert json.loads(body) == {"redirect": expected}
    assert client.json("GET", "/web/api/v2/clusters", Cookie=f"JSESSIONID={sid}")[0] == 401


def test_cas_url_option_is_used(tmp_path: Path) -> None:
    server = demo.make_server("127.0.0.1", 0, None, "https://cas.example.com:20009/cas/")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        _, resp, _ = Client(server.server_address[1]).request("GET", "/web/v1/logout_action")
        assert resp.getheader("Location").startswith(
            "https://cas.example.com:20009/cas/logout?service=http%3A%2F%2F127.0.0.1%3A"
        )
    finally:
        server.shutdown()
        server.server_close()


def test_cas_browser_logout_ends_sso_session(client: Client) -> None:
    sid = cas_login(client)
    status, resp, _ = client.request(
        "GET",
        "/cas/logout?service=" + quote_plus(client.base + "/web/"),
        headers={"Cookie": f"JSESSIONID={sid}"},
    )
    assert status == 302 and resp.getheader("Location") == client.base + "/web/"
    assert client.json("GET", "/web/api/v2/clusters", Cookie=f"JSESSIONID={sid}")[0] == 401
    status, resp, body = client.request("GET", "/cas/logout?service=javascript:alert(1)")
    assert status == 200 and b"Logout successful" in body
    assert resp.getheader("Content-Type").startswith("text/html")


def test_cas_browser_logout_ends_every_session_of_the_tgt(client: Client) -> None:
    _, resp, _ = client.request("GET", f"/cas/login?service={client.base}/web/a")
    tgt = re.match(r"CASTGC=([^;]+)", resp.getheader("Set-Cookie")).group(1)  # type: ignore[union-attr]
    sids = []
    for ticket_url in (resp.getheader("Location"),):
        _, r2, _ = client.request("GET", ticket_url.removeprefix(client.base))
        sids.append(r2.getheader("Set-Cookie").split(";")[0].split("=")[1])
    _, resp, _ = client.request(
        "GET", f"/cas/login?service={client.base}/web/b", headers={"Cookie": f"CASTGC={tgt}"}
    )
    assert resp.getheader("Set-Cookie") is None  # same SSO session
    _, r2, _ = client.request("GET", resp.getheader("Location").removeprefix(client.base))
    sids.append(r2.getheader("Set-Cookie").split(";")[0].split("=")[1])
    status, resp, _ = client.request("GET", "/cas/logout", headers={"Cookie": f"CASTGC={tgt}"})
    assert status == 200 and resp.getheader("Set-Cookie") == "CASTGC=; Path=/cas; Max-Age=0"
    for sid in sids:
        assert client.json("GET", "/web/api/x", Cookie=f"JSESSIONID={sid}")[0] == 401


def test_back_channel_single_logout_by_ticket(client: Client) -> None:
    _, resp, _ = client.request("GET", f"/cas/login?service={client.base}/web/")
    location = resp.getheader("Location")
    ticket = parse_qs(urlsplit(location).query)["ticket"][0]
    _, r2, _ = client.request("GET", location.removeprefix(client.base))
    sid = r2.getheader("Set-Cookie").split(";")[0].split("=")[1]
    logout_request = (
        '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="LR-1" Version="2.0" '
        'IssueInstant="2024-01-01T00:00:00Z"><saml:NameID>@NOT_USED@</saml:NameID>'
        f"<samlp:SessionIndex>{ticket}</samlp:SessionIndex></samlp:LogoutRequest>"
    )
    form = "logoutRequest=" + quote_plus(logout_request)
    status, _, _ = client.request(
        "POST",
        "/web/",
        form.encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200
    assert client.json("GET", "/web/api/v2/clusters", Cookie=f"JSESSIONID={sid}")[0] == 401


def test_path_variants_route_like_a_servlet_container(client: Client) -> None:
    sid = cas_login(client)
    for path in ("/web/api/v2/clusters/", "/web//api/v2/clusters", "/web/api/v2/%63lusters"):
        assert client.json("GET", path, Cookie=f"JSESSIONID={sid}")[0] == 200, path
    assert client.request("POST", "/cas/logout;x=1", b"", {"Cookie": f"JSESSIONID={sid}"})[0] == 200
    assert client.json("GET", "/web/api/v2/clusters", Cookie=f"JSESSIONID={sid}")[0] == 401


# --------------------------------------------------------------------------- Elasticsearch


def test_saml_authenticate_bearer_refresh_and_logout(client: Client) -> None:
    status, login = client.json(
        "POST",
        "/_security/saml/authenticate",
        {"content": saml_response("alice", "_sess-9"), "ids": ["_req1"], "realm": "saml1"},
    )
    assert status == 200
    assert login["username"] == "alice" and login["realm"] == "saml1"
    assert login["expires_in"] == 1200
    access, refresh = login["access_token"], login["refresh_token"]

    status, me = client.json("GET", "/_security/_authenticate", Authorization=f"Bearer {access}")
    assert status == 200 and me["username"] == "alice"
    assert me["authentication_realm"] == {"name": "saml1", "type": "saml"}
    assert client.json("GET", "/demo-index/_search", Authorization=f"Bearer {access}")[0] == 200

    status, pair = client.json(
        "POST", "/_security/oauth2/token", {"grant_type": "refresh_token", "refresh_token": refresh}
    )
    assert status == 200 and pair["type"] == "Bearer" and pair["expires_in"] == 1200
    assert {pair["access_token"], pair["refresh_token"]}.isdisjoint({access, refresh})
    status, err = client.json(
        "POST", "/_security/oauth2/token", {"grant_type": "refresh_token", "refresh_token": refresh}
    )
    assert status == 400 and err["error"] == "invalid_grant"
    # the old access token stays valid until it expires, as in Elasticsearch
    assert (
        client.json("GET", "/_security/_authenticate", Authorization=f"Bearer {access}")[0] == 200
    )
    new_access = pair["access_token"]
    status, me = client.json(
        "GET", "/_security/_authenticate", Authorization=f"Bearer {new_access}"
    )
    assert status == 200 and me["username"] == "alice"

    status, out = client.json("POST", "/_security/saml/logout", {"token": new_access})
    assert status == 200 and out["id"].startswith("_")
    parts = urlsplit(out["redirect"])
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == client.base + "/idp/slo"
    xml = inflate(parse_qs(parts.query)["SAMLRequest"][0])
    assert f'ID="{out["id"]}"' in xml and ">alice</saml:NameID>" in xml
    assert ">_sess-9</samlp:SessionIndex>" in xml
    assert 'NameQualifier="https://idp.example.com"' in xml

    status, resp, body = client.request(
        "GET", "/_security/_authenticate", headers={"Authorization": f"Bearer {new_access}"}
    )
    assert status == 401
    assert resp.getheader("WWW-Authenticate") == 'Bearer realm="security"'
    assert json.loads(body)["error"]["type"] == "security_exception"
    status, err = client.json(
        "POST",
        "/_security/oauth2/token",
        {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]},
    )
    assert status == 400 and err["error"] == "invalid_grant"
    # logging out again: idempotent, nothing to redirect to
    assert client.json("POST", "/_security/saml/logout", {"token": new_access}) == (
        200,
        {"id": None, "redirect": None},
    )
    assert client.request("GET", "/idp/slo?" + parts.query)[0] == 200


def test_saml_authenticate_rejects_bad_input(client: Client) -> None:
    for content in ("!!!", base64.b64encode(b"<not-saml/>").decode()):
        status, err = client.json("POST", "/_security/saml/authenticate", {"content": content})
        assert status == 401 and err["status"] == 401
        assert err["error"]["type"] == "security_exception"
    doctype = base64.b64encode(b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>').decode()
    assert client.json("POST", "/_security/saml/authenticate", {"content": doctype})[0] == 401
    status, _, _ = client.request("POST", "/_security/saml/authenticate", b"{not json")
    assert status == 400
    assert client.json("POST", "/_security/saml/authenticate", {"ids": []})[0] == 400
    assert client.json("GET", "/_security/_authenticate")[0] == 401


def test_saml_logout_validation(client: Client) -> None:
    for body in ({}, {"token": ""}, {"token": 5}, {"token": "x", "refresh_token": 1}):
        status, err = client.json("POST", "/_security/saml/logout", body)
        assert status == 400 and err["status"] == 400 and err["error"]["type"], body
    assert client.json("POST", "/_security/saml/logout", {"token": "unknown"}) == (
        200,
        {"id": None, "redirect": None},
    )


def test_saml_invalidate_by_idp_logout_request(client: Client) -> None:
    _, login = client.json(
        "POST", "/_security/saml/authenticate", {"content": saml_response("bob", "_s2")}
    )
    logout_request = (
        '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_idp1" Version="2.0" '
        'IssueInstant="2024-01-01T00:00:00Z"><saml:NameID>bob</saml:NameID>'
        "<samlp:SessionIndex>_s2</samlp:SessionIndex></samlp:LogoutRequest>"
    )
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    encoded = base64.b64encode(compressor.compress(logout_request.encode()) + compressor.flush())
    query = "SAMLRequest=" + quote_plus(encoded.decode())
    status, out = client.json("POST", "/_security/saml/invalidate", {"query_string": query})
    assert status == 200 and out["invalidated"] == 2
    assert 'InResponseTo="_idp1"' in inflate(
        parse_qs(urlsplit(out["redirect"]).query)["SAMLResponse"][0]
    )
    auth = f"Bearer {login['access_token']}"
    assert client.json("GET", "/_security/_authenticate", Authorization=auth)[0] == 401
    assert client.json("POST", "/_security/saml/invalidate", {})[0] == 400
    assert client.json("POST", "/_security/saml/complete_logout", {"ids": ["_x"]}) == (200, {})


# --------------------------------------------------------------------------- request log


# --------------------------------------------------------------------------- OIDC realm


def oidc_login(client: Client, code: str = "alice:sid-1") -> dict[str, Any]:
    status, prepared = client.json("POST", "/_security/oidc/prepare", {"realm": "oidc1"})
    assert status == 200 and prepared["realm"] == "oidc1"
    assert prepared["redirect"].startswith(client.base + "/op/authorize?")
    state = prepared["state"]
    callback = f"https://kibana.example/api/security/oidc/callback?code={code}&state={state}"
    status, login = client.json(
        "POST",
        "/_security/oidc/authenticate",
        {"redirect_uri": callback, "state": state, "nonce": prepared["nonce"]},
    )
    assert status == 200, login
    return login


def test_oidc_authenticate_answers_like_an_elasticsearch_oidc_realm(client: Client) -> None:
    login = oidc_login(client, "alice:sid-1")
    assert login["username"] == "alice" and login["expires_in"] == 1200
    auth = login["authentication"]
    assert auth["authentication_realm"] == {"name": "oidc1", "type": "oidc"}
    assert auth["metadata"] == {
        "oidc(iss)": client.base + "/op",
        "oidc(sub)": "alice",
        "oidc(sid)": "sid-1",
    }
    bearer = {"Authorization": f"Bearer {login['access_token']}"}
    status, me = client.json("GET", "/_security/_authenticate", **bearer)
    assert status == 200 and me["metadata"]["oidc(sid)"] == "sid-1"
    # a code without a session id gets one; the implicit flow's id_token is read too
    assert oidc_login(client, "bob")["authentication"]["metadata"]["oidc(sid)"]
    claims = base64.urlsafe_b64encode(json.dumps({"sub": "carol", "sid": "s-9"}).encode())
    id_token = "eyJhbGciOiJub25lIn0." + claims.decode().rstrip("=") + "."
    status, login = client.json(
        "POST",
        "/_security/oidc/authenticate",
        {"redirect_uri": f"https://k/cb#id_token={id_token}&state=s1", "state": "s1"},
    )
    assert status == 200 and login["authentication"]["metadata"]["oidc(sid)"] == "s-9"


def test_oidc_authenticate_refuses_bad_input(client: Client) -> None:
    for body, status in (
        ({}, 400),
        ({"redirect_uri": "https://k/cb?code=a&state=x"}, 400),
        ({"redirect_uri": "https://k/cb?code=a&state=x", "state": "y"}, 401),
        ({"redirect_uri": "https://k/cb?state=x", "state": "x"}, 401),
        ({"redirect_uri": "https://k/cb?id_token=junk&state=x", "state": "x"}, 401),
    ):
        assert client.json("POST", "/_security/oidc/authenticate", body)[0] == status
    status, resp, _ = client.request(
        "GET", "/op/authorize?redirect_uri=https%3A%2F%2Fk%2Fcb&state=s"
    )
    assert status == 302 and resp.getheader("Location") == "https://k/cb?code=alice&state=s"


def test_oidc_logout_invalidates_and_redirects_to_the_op(client: Client) -> None:
    login = oidc_login(client)
    access, refresh = login["access_token"], login["refresh_token"]
    status, out = client.json("POST", "/_security/oidc/logout", {"token": access})
    assert status == 200
    url = urlsplit(out["redirect"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == client.base + "/op/logout"
    params = parse_qs(url.query)
    assert set(params) == {"id_token_hint", "post_logout_redirect_uri", "state"}
    assert (
        client.json("GET", "/_security/_authenticate", Authorization=f"Bearer {access}")[0] == 401
    )
    grant = {"grant_type": "refresh_token", "refresh_token": refresh}
    assert client.json("POST", "/_security/oauth2/token", grant)[0] == 400
    assert client.json("POST", "/_security/oidc/logout", {"token": access})[0] == 401
    assert client.json("POST", "/_security/oidc/logout", {"access_token": access})[0] == 400
    assert client.request("GET", "/op/logout?" + url.query)[0] == 200


def test_invalidate_token_api(client: Client) -> None:
    first, second, other = (
        oidc_login(client),
        oidc_login(client, "alice:s2"),
        oidc_login(client, "bob"),
    )
    counts = {"invalidated_tokens": 2, "previously_invalidated_tokens": 0, "error_count": 0}
    assert client.json("DELETE", "/_security/oauth2/token", {"token": first["access_token"]}) == (
        200,
        counts,
    )
    status, again = client.json(
        "DELETE", "/_security/oauth2/token", {"refresh_token": first["refresh_token"]}
    )
    assert status == 200 and again["previously_invalidated_tokens"] == 1
    status, unknown = client.json("DELETE", "/_security/oauth2/token", {"token": "never-issued"})
    assert (status, unknown["invalidated_tokens"]) == (404, 0)
    status, by_user = client.json("DELETE", "/_security/oauth2/token", {"username": "alice"})
    assert (status, by_user["invalidated_tokens"]) == (200, 2)
    bob = {"Authorization": f"Bearer {other['access_token']}"}
    assert client.json("GET", "/_security/_authenticate", **bob)[0] == 200
    status, by_realm = client.json("DELETE", "/_security/oauth2/token", {"realm_name": "oidc1"})
    assert (status, by_realm["invalidated_tokens"]) == (200, 2)
    assert client.json("GET", "/_security/_authenticate", **bob)[0] == 401
    assert client.json("DELETE", "/_security/oauth2/token", {"username": "alice"})[0] == 404
    for bad in (
        {},
        {"token": "a", "refresh_token": "b"},
        {"token": "a", "username": "b"},
        {"x": 1},
    ):
        assert client.json("DELETE", "/_security/oauth2/token", bad)[0] == 400
    assert second["access_token"] not in json.dumps(client.log())


def test_request_log_keeps_fingerprints_never_raw_values(client: Client, log_path: Path) -> None:
    sid = cas_login(client)
    _, login = client.json("POST", "/_security/saml/authenticate", {"content": saml_response()})
    token = login["access_token"]
    client.json("GET", "/web/api/v2/clusters?lang=en", Cookie=f"JSESSIONID={sid}; theme=dark")
    client.json("GET", "/_security/_authenticate", Authorization=f"Bearer {token}")
    client.json("POST", "/_security/saml/logout", {"token": token})

    entries = client.log()
    assert not any(e["path"].startswith("/__demo/") for e in entries)
    api = next(e for e in entries if e["path"] == "/web/api/v2/clusters")
    assert api["method"] == "GET" and api["query_keys"] == ["lang"]
    assert api["cookies"] == {"JSESSIONID": fp(sid), "theme": fp("dark")}
    assert api["authorization"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", api["time"])
    me = next(e for e in entries if e["path"] == "/_security/_authenticate")
    assert me["authorization"] == fp(f"Bearer {token}")
    ticket_entry = next(e for e in entries if e["path"] == "/web/index.html")
    assert ticket_entry["query_keys"] == ["ticket"]

    file_entries = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert file_entries == entries
    text = log_path.read_text() + json.dumps(entries)
    for secret in (sid, token, login["refresh_token"], "ST-", "alice", "PHNhbWxw"):
        assert secret not in text

    assert client.json("POST", "/__demo/reset") == (200, {"reset": True})
    assert client.log() == []
    assert len(log_path.read_text().splitlines()) == len(file_entries)  # file is append-only


def test_rejected_requests_are_still_logged(client: Client) -> None:
    client.request("GET", "/nope")
    client.request("POST", "/_security/saml/logout", b"x" * (demo.MAX_BODY_BYTES + 1))
    assert [e["path"] for e in client.log()] == ["/nope", "/_security/saml/logout"]


# --------------------------------------------------------------------------- robustness


def test_unknown_paths_are_404_json(client: Client) -> None:
    status, resp, body = client.request("GET", "/nope")
    assert status == 404 and json.loads(body) == {"error": "not_found"}
    assert resp.getheader("Content-Type") == "application/json"
    assert client.request("DELETE", "/_security/saml/logout")[0] == 404


def test_keep_alive_and_body_limits(client: Client) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", client.port, timeout=5)
    try:
        for _ in range(3):  # one connection, several requests
            status, resp, _ = client.request("GET", "/nope", conn=conn)
            assert status == 404 and resp.getheader("Content-Length") is not None
        status, resp, _ = client.request(
            "POST", "/_security/saml/logout", b"x" * (demo.MAX_BODY_BYTES + 1), conn=conn
        )
        assert status == 413 and resp.getheader("Connection") == "close"
    finally:
        conn.close()
    status, _, _ = client.request(
        "POST", "/_security/saml/logout", b"{}", {"Content-Length": "abc"}
    )
    assert status == 400
    status, _, _ = client.request(
        "POST", "/_security/saml/logout", b"[1]", {"Content-Type": "application/json"}
    )
    assert status == 400
    # the server is still fine
    assert client.json("POST", "/_security/saml/logout", {"token": "t"})[0] == 200


def test_invalid_bytes_never_crash_the_server(client: Client) -> None:
    assert client.request("POST", "/_security/saml/logout", b"[" * 100_000)[0] == 400
    for body in (b"\xff\xfe", b'{"content": null}', b'{"content": "\xff"}'):
        assert client.request("POST", "/_security/saml/authenticate", body)[0] in (400, 401)
    assert client.request("POST", "/web/", b"logoutRequest=%ff%fe")[0] in (200, 400)
    assert client.request("GET", "/cas/login?service=%ff")[0] in (302, 400)
    assert client.request("GET", "/web/?ticket=")[0] == 401
    assert client.json("POST", "/_security/oauth2/token", {"grant_type": "password"})[0] == 400


# --------------------------------------------------------------------------- CLI


@pytest.mark.slow
def test_cli_prints_address_and_stops_on_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "cli.jsonl"
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--host", "127.0.0.1", "--port", "0", "--log", str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"demo upstream listening on http://127\.0\.0\.1:(\d+)\n", line)
        assert match, line
        client = Client(int(match.group(1)))
        assert client.request("GET", "/nope")[0] == 404
        assert json.loads(log.read_text())["path"] == "/nope"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
