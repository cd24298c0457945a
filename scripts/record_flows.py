"""Record the scenario flow files in tests/flows/ from a live run.

Stock `mitmdump -w` in reverse mode in front of the demo upstream, with no
gateway in the path: the files hold what a cluster's real traffic would look
like, and the replay tests and `gateway replay` run the gateway over them.

    scripts/record-flows [--out tests/flows]

The values inside (session ids, tickets, tokens) are made up by the demo
upstream on each run; the files are regenerated, never committed.

The `oidc` scenario also plays the OpenID Provider: it signs back-channel logout
tokens with keys made for the run and writes their public JWKS next to the
flows (`oidc-jwks.json`), which a replay config names as `oidc.jwks_file` (with
`oidc.issuer: OIDC_ISSUER`, `oidc.client_id: OIDC_CLIENT_ID`).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import secrets
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import jwt  # noqa: E402
from children import Child  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from jwt.algorithms import ECAlgorithm, RSAAlgorithm  # noqa: E402

BIN = Path(sys.executable).parent

SAML_RESPONSE = """<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"
 xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r{n}" Version="2.0"
 IssueInstant="2026-11-22T00:00:00Z"><saml:Issuer>https://idp.example.com/idp</saml:Issuer>
 <saml:Assertion ID="_a{n}" Version="2.0" IssueInstant="2026-11-22T00:00:00Z">
 <saml:Issuer>https://idp.example.com/idp</saml:Issuer>
 <saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
 NameQualifier="https://idp.example.com/idp">{user}</saml:NameID></saml:Subject>
 <saml:AuthnStatement AuthnInstant="2026-11-22T00:00:00Z" SessionIndex="_sess-{n}"/>
 </saml:Assertion></samlp:Response>"""


def start(argv: list[str], ready: str) -> Child:
    """Start a child and wait for its readiness line (SystemExit if it never comes)."""
    child = Child(argv, ready)
    try:
        child.wait_ready()
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None
    return child


class Client:
    def __init__(self, port: int, op: RecorderOP | None = None) -> None:
        self.port = port
        self.op = op

    def __call__(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.msg, resp.read()
        finally:
            conn.close()

    def login(self, ticket: str | None = None) -> str:
        ticket = ticket or f"ST-{secrets.token_hex(8)}-cas"
        status, headers, _ = self("GET", f"/web/?ticket={ticket}")
        for value in headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            if name == "JSESSIONID" and rest.split(";")[0]:
                return rest.split(";")[0]
        raise SystemExit(f"login failed ({status})")

    def json(
        self, path: str, payload: object, headers: dict[str, str] | None = None
    ) -> tuple[int, dict]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        status, _, data = self(
            "POST", path, {"Content-Type": "application/json", **(headers or {})}, body
        )
        try:
            return status, json.loads(data)
        except ValueError:
            return status, {}


def cas_scenario(c: Client) -> None:
    """CAS ticket logins, uses, both logout routes (manual, timeout, null), reuse."""
    api = "/web/api/v2/clusters"
    for logout in (
        ("POST", "/cas/logout"),
        ("GET", "/web/v1/logout_action?is_timeout_logout=true"),
        ("GET", "/web/v1/logout_action?is_timeout_logout=null"),
        ("GET", "/web/v1/logout_action"),
        ("GET", "/cas/logout?service=https%3A%2F%2Fevil.example%2F"),
    ):
        sid = c.login()
        cookie = {"Cookie": f"JSESSIONID={sid}"}
        c("GET", api, cookie)
        c(logout[0], logout[1], cookie)
        c("GET", api, cookie)  # reuse of the logged-out cookie


def saml_scenario(c: Client) -> None:
    """SAML authenticate, use, refresh, logout, reuse of every token."""
    users = ("alice@example.com", "bob@example.com")
    pairs = []
    for n, user in enumerate(users):
        content = base64.b64encode(SAML_RESPONSE.format(n=n, user=user).encode()).decode()
        _, tokens = c.json(
            "/_security/saml/authenticate",
            {"content": content, "ids": [f"_req{n}"], "realm": "saml1"},
        )
        pairs.append(tokens)
    first, second = pairs
    c("GET", "/_security/_authenticate", {"Authorization": f"Bearer {first['access_token']}"})
    _, refreshed = c.json(
        "/_security/oauth2/token",
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
    )
    new_access = refreshed["access_token"]
    c("GET", "/_security/_authenticate", {"Authorization": f"Bearer {new_access}"})
    c.json("/_security/saml/logout", {"token": new_access})
    c("GET", "/_security/_authenticate", {"Authorization": f"Bearer {new_access}"})
    c("GET", "/_security/_authenticate", {"Authorization": f"Bearer {first['access_token']}"})
    c.json(
        "/_security/oauth2/token",
        {"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]},
    )
    # the second user logs out with both tokens, then both are reused
    c.json(
        "/_security/saml/logout",
        {"token": second["access_token"], "refresh_token": second["refresh_token"]},
    )
    c("GET", "/demo-index/_search", {"Authorization": f"Bearer {second['access_token']}"})
    c.json(
        "/_security/oauth2/token",
        {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]},
    )


OIDC_ISSUER = "https://op.example.com/realms/demo"
OIDC_CLIENT_ID = "demo-kibana"
OIDC_JWKS = "oidc-jwks.json"
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


class RecorderOP:
    """The OP of the oidc scenario: ID tokens for the demo realm's implicit flow
    (unsigned: the demo reads them unverified) and signed logout tokens."""

    def __init__(self) -> None:
        self.keys = {
            "RS256": ("rec-rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            "ES256": ("rec-ec", ec.generate_private_key(ec.SECP256R1())),
        }

    def write_jwks(self, out: Path) -> Path:
        entries = []
        for alg, (kid, key) in self.keys.items():
            to_jwk = RSAAlgorithm.to_jwk if alg == "RS256" else ECAlgorithm.to_jwk
            entry = json.loads(to_jwk(key.public_key()))
            entry.update(kid=kid, alg=alg, use="sig")
            entries.append(entry)
        path = out / OIDC_JWKS
        path.write_text(json.dumps({"keys": entries}))
        return path

    @staticmethod
    def id_token(sub: str, sid: str) -> str:
        def part(data: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

        claims = {"iss": OIDC_ISSUER, "aud": OIDC_CLIENT_ID, "sub": sub, "sid": sid}
        return f"{part({'alg': 'none'})}.{part(claims)}."

    def logout_token(self, alg: str, **claims: str) -> str:
        kid, key = self.keys[alg]
        now = int(time.time())
        payload = {
            "iss": OIDC_ISSUER,
            "aud": OIDC_CLIENT_ID,
            "iat": now,
            "exp": now + 120,
            "jti": secrets.token_hex(16),
            "events": {BACKCHANNEL_EVENT: {}},
            **claims,
        }
        return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, "typ": "logout+jwt"})


def oidc_scenario(c: Client) -> None:
    """OIDC logins (implicit flow), oidc/logout, the invalidate-token API, the
    back-channel logout (sid, replay, sub), reuse of every token."""
    op = c.op
    assert op is not None

    def login(sub: str, sid: str) -> dict:
        callback = f"https://kibana.example/cb#id_token={op.id_token(sub, sid)}&state=st-{sid}"
        _, tokens = c.json(
            "/_security/oidc/authenticate", {"redirect_uri": callback, "state": f"st-{sid}"}
        )
        return tokens

    def me(tokens: dict) -> None:
        c("GET", "/_security/_authenticate", {"Authorization": f"Bearer {tokens['access_token']}"})

    def delete(payload: dict) -> None:
        c(
            "DELETE",
            "/_security/oauth2/token",
            {"Content-Type": "application/json"},
            json.dumps(payload).encode(),
        )

    def backchannel(token: str) -> None:
        form = urlencode({"logout_token": token}).encode()
        c(
            "POST",
            "/-/oidc/backchannel-logout",
            {"Content-Type": "application/x-www-form-urlencoded"},
            form,
        )

    alice1, alice2, bob = login("alice", "a-1"), login("alice", "a-2"), login("bob", "b-1")
    me(alice1)
    c.json("/_security/oidc/logout", {"token": alice1["access_token"]})  # forwarded
    me(alice1)
    c.json(
        "/_security/oauth2/token",
        {"grant_type": "refresh_token", "refresh_token": alice1["refresh_token"]},
    )
    delete({"token": alice2["access_token"]})  # the token API, forwarded
    me(alice2)
    carol1, carol2 = login("carol", "c-1"), login("carol", "c-2")
    sid_token = op.logout_token("RS256", sid="c-1", sub="carol")
    backchannel(sid_token)  # that session only
    me(carol1)
    me(carol2)
    backchannel(sid_token)  # replayed: refused
    backchannel(op.logout_token("ES256", sub="carol"))  # every session of carol
    me(carol2)
    delete({"token": "x", "refresh_token": "y"})  # malformed: refused
    delete({"username": "bob"})  # by user: revoked once the upstream agrees
    me(bob)


def bad_scenario(c: Client) -> None:
    """Bad inputs and path variants."""
    c.json("/_security/saml/logout", b"{not json")
    c.json("/_security/saml/logout", {})
    c.json("/_security/saml/logout", {"token": 5})
    c("POST", "/_security/saml/logout", {"Content-Encoding": "gzip"}, b"\x1f\x8b\x08\x00")
    for path in ("//cas//logout", "/cas/logout;jsessionid=0A1B", "/%63as/logout/"):
        sid = c.login()
        c("POST", path, {"Cookie": f"JSESSIONID={sid}"})
        c("GET", "/web/api/v2/clusters", {"Cookie": f"JSESSIONID={sid}"})
    c("GET", "/web/v1/logout_action?is_timeout_logout=true&is_timeout_logout=true")
    # a logged-out session id sent in the URL instead of a cookie (URL rewriting)
    sid = c.login()
    c("POST", "/cas/logout", {"Cookie": f"JSESSIONID={sid}"})
    c("GET", f"/web/api/v2/clusters;jsessionid={sid}")
    c("GET", f"/web/api/v2/clusters?JSESSIONID={sid}")


CAS_LOGOUT_REQUEST = (
    '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"'
    ' xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="LR-{n}" Version="2.0"'
    ' IssueInstant="2026-11-22T00:00:00Z"><saml:NameID>@NOT_USED@</saml:NameID>'
    "<samlp:SessionIndex>{ticket}</samlp:SessionIndex></samlp:LogoutRequest>"
)


def slo_scenario(c: Client) -> None:
    """CAS single logout: the CAS server's back-channel POST to the service URL
    for a known ticket (then reuse) and an unknown one; a browser's
    front-channel JSONP logout (then reuse)."""
    api = "/web/api/v2/clusters"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    ticket = f"ST-{secrets.token_hex(8)}-cas"
    cookie = {"Cookie": f"JSESSIONID={c.login(ticket)}"}
    c("GET", api, cookie)
    for n, named in enumerate((ticket, f"ST-{secrets.token_hex(8)}-cas")):
        message = CAS_LOGOUT_REQUEST.format(n=n, ticket=named)
        c("POST", "/web/", form, urlencode({"logoutRequest": message}).encode())
        if n == 0:
            c("GET", api, cookie)  # reuse after the CAS server ended the session
    ticket = f"ST-{secrets.token_hex(8)}-cas"
    cookie = {"Cookie": f"JSESSIONID={c.login(ticket)}"}
    c("GET", api, cookie)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    xml = CAS_LOGOUT_REQUEST.format(n=2, ticket=ticket).encode()
    value = base64.b64encode(deflater.compress(xml) + deflater.flush()).decode()
    query = urlencode({"callback": "jQuery1_2", "logoutRequest": value, "_": "1700000000000"})
    c("GET", f"/web/?{query}", cookie)
    c("GET", api, cookie)


SCENARIOS: dict[str, Callable[[Client], None]] = {
    "cas": cas_scenario,
    "saml": saml_scenario,
    "bad": bad_scenario,
    "oidc": oidc_scenario,
    "slo": slo_scenario,
}


def record(out: Path, names: list[str]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    upstream = start(
        [sys.executable, str(ROOT / "scripts" / "demo_upstream.py"), "--port", "0"],
        r"listening on (http://127\.0\.0\.1:\d+)",
    )
    assert upstream.match is not None
    url = upstream.match.group(1)
    written = []
    op = RecorderOP()
    op.write_jwks(out)
    try:
        for name in names:
            path = out / f"{name}.mitm"
            # The capture holds live cookies, tickets and tokens: owner-only
            # before mitmdump writes a byte (it truncates, keeping the mode).
            path.unlink(missing_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
            dump = start(
                [
                    str(BIN / "mitmdump"),
                    "--mode",
                    f"reverse:{url}@127.0.0.1:0",
                    "--set",
                    "flow_detail=0",
                    "--set",
                    "connection_strategy=lazy",
                    "-w",
                    str(path),
                ],
                r"listening at 127\.0\.0\.1:(\d+)",
            )
            assert dump.match is not None
            try:
                SCENARIOS[name](Client(int(dump.match.group(1)), op))
            finally:
                dump.stop()
            written.append(path)
    finally:
        upstream.stop()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "flows")
    parser.add_argument("scenarios", nargs="*", help=f"default: all of {', '.join(SCENARIOS)}")
    args = parser.parse_args(argv)
    unknown = [n for n in args.scenarios if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}; choose from {', '.join(SCENARIOS)}")
    for path in record(args.out, args.scenarios or list(SCENARIOS)):
        print(f"recorded {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
