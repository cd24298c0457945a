"""Hostile input, one named test per case or family (docs/security.md lists them)."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from gwtest import audit_records, make_gateway, req

from gateway.http import Forward, Respond, Response


def run(coro):
    return asyncio.run(coro)


def learn_pair(
    gw, content: str, username: str = "eve", access: str = "acc-h", refresh: str = "ref-h"
):
    request = req(
        "POST",
        "/_security/saml/authenticate",
        {"Content-Type": "application/json"},
        json.dumps({"content": content, "realm": "saml1"}).encode(),
    )
    assert isinstance(run(gw.handle_request(request)), Forward)
    answer = {
        "access_token": access,
        "refresh_token": refresh,
        "username": username,
        "realm": "saml1",
    }
    run(gw.handle_response(request, Response(200, (), json.dumps(answer).encode())))


def saml_gw(tmp_path):
    from gateway.saml.keys import generate_sp_keypair

    key, _cert = generate_sp_keypair(tmp_path / "sp")
    gw = make_gateway(
        tmp_path,
        routes={"saml_logout": {"mode": "short_circuit"}},
        saml={
            "sp_entity_id": "https://sp/",
            "idp_slo_url": "https://idp/slo",
            "sp_key_file": str(key),
        },
    )
    return gw


def logout(gw, token):
    body = json.dumps({"token": token}).encode()
    return run(
        gw.handle_request(
            req("POST", "/_security/saml/logout", {"Content-Type": "application/json"}, body)
        )
    )


@pytest.mark.parametrize(
    "username",
    [
        "line\nbreak",
        'crlf\r\n{"seq":999,"event":"logout"}',
        "para\u2028graph\u2029sep",
        "ansi\x1b[31mred\x1b[0m",
        "nul\x00byte",
        "bidi\u202eevil",
    ],
)
def test_username_with_control_characters_stays_one_escaped_record(tmp_path, username):
    gw = saml_gw(tmp_path)
    learn_pair(gw, base64.b64encode(b"<x/>").decode(), username=username)
    assert logout(gw, "acc-h").status == 200
    text = (tmp_path / "audit.jsonl").read_text(encoding="utf-8")
    assert text.isascii() and text.count("\n") == 1  # one record, every odd character escaped
    assert "\x1b" not in text and "\u2028" not in text and "\r" not in text
    assert json.loads(text)["user"] == username  # and it round-trips exactly


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
    + ']><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&i;</samlp:Response>'
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&x;</samlp:Response>'
)
EXTERNAL_DTD = (
    '<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:1/evil.dtd">'
    '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>'
)
HUGE_NAME_ID = (
    '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
    'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><saml:Assertion><saml:Subject>'
    f"<saml:NameID>{'x' * 20000}</saml:NameID></saml:Subject></saml:Assertion></samlp:Response>"
)


@pytest.mark.parametrize(
    "xml",
    [BILLION_LAUGHS, XXE, EXTERNAL_DTD, HUGE_NAME_ID, "<not-closed", "\x00\x01binary"],
    ids=["billion-laughs", "xxe", "external-dtd", "huge-value", "malformed", "binary"],
)
def test_hostile_saml_response_teaches_nothing_and_gateway_stays_up(tmp_path, xml):
    gw = saml_gw(tmp_path)
    learn_pair(gw, base64.b64encode(xml.encode("utf-8", "surrogatepass")).decode())
    record = run(gw.store.get_token(gw.fingerprint("token", "acc-h"), gw.clock()))
    assert record is not None and record.name_id is None and record.session_index is None
    answer = logout(gw, "acc-h")  # still revocable as a pair, with no redirect
    assert json.loads(answer.body) == {"id": None, "redirect": None}
    assert run(gw.handle_request(req("GET", "/x", {"Authorization": "Bearer ref-h"}))).status == 401
    assert run(gw.handle_request(req("GET", "/x"))) == Forward()  # and everything else goes on


HOSTILE_REQUESTS = [
    req("GET", "/cas/logout?service=https%3A%2F%2Fapp.example.com%2F%0d%0aSet-Cookie:%20x=y"),
    req("GET", "/web/v1/logout_action?is_timeout_logout=true%0d%0aX-Injected:%201"),
    req("POST", "/_security/saml/logout", {}, b'{"token": "a", "\\r\\nX-Evil: 1": 2}'),
    req("POST", "/_security/saml/logout", {}, b'{"token": "\\r\\nX-Evil: 1"}'),
    req("POST", "/cas/logout", {"Cookie": "JSESSIONID=a\r\nb"}),
    req("GET", "/x%0d%0aSet-Cookie:%20a=b", {"Authorization": "Bearer \r\nX: y"}),
]


@pytest.mark.parametrize("request_", HOSTILE_REQUESTS, ids=range(len(HOSTILE_REQUESTS)))
def test_no_header_injection_from_request_input(tmp_path, request_):
    gw = saml_gw(tmp_path)
    for _ in range(2):  # first pass logs out, second meets the revoked credentials
        decision = run(gw.handle_request(request_))
        if isinstance(decision, Respond):
            for name, value in decision.headers:
                assert "\r" not in value and "\n" not in value, name
        else:
            assert decision.query is None or (
                "\r" not in decision.query and "\n" not in decision.query
            )


@pytest.mark.parametrize(
    "headers",
    [
        [("Cookie", "JSESSIONID=good; JSESSIONID=bad")],
        [("Cookie", "JSESSIONID=bad; JSESSIONID=good")],
        [("Cookie", "a=1; b=2; JSESSIONID=good"), ("Cookie", "c=3; JSESSIONID=bad")],
        [("Cookie", 'JSESSIONID="bad"')],
        [("Cookie", " JSESSIONID = bad ;x=y")],
        [("Authorization", "bearer bad")],
        [("Authorization", "BEARER bad")],
        [("Authorization", "Basic Zm9vOmJhcg=="), ("Authorization", "Bearer bad")],
        [("Cookie", "JSESSIONID=good"), ("Authorization", "bEaReR bad")],
    ],
    ids=[
        "duplicate-name-second",
        "duplicate-name-first",
        "second-cookie-header",
        "quoted-value",
        "whitespace",
        "bearer-lowercase",
        "bearer-uppercase",
        "second-authorization-header",
        "cookie-plus-bearer",
    ],
)
def test_revoked_credential_hidden_among_valid_ones_is_refused(tmp_path, headers):
    gw = make_gateway(tmp_path)
    run(
        gw.handle_request(
            req("POST", "/cas/logout", {"Cookie": "JSESSIONID=bad", "Authorization": "Bearer bad"})
        )
    )
    answer = run(gw.handle_request(req("GET", "/web/api", headers)))
    assert isinstance(answer, Respond) and answer.status == 401
    assert audit_records(tmp_path / "audit.jsonl")[-1]["event"] == "revoked_credential_use"
