"""The IdP's LogoutResponse to a LogoutRequest the gateway issued, route
`saml_complete` (issue 13, SPEC §10.3), in both bindings, through the engine."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gwtest import Clock, audit_records, make_gateway, req, run
from samltest import saml_response_b64
from slotest import (
    Keys,
    logout_response_xml,
    post_content,
    redirect_query,
    saml_settings,
)

from gateway.engine import Gateway
from gateway.http import Forward, Respond, Response
from gateway.saml.post_binding import verify_enveloped
from gateway.saml.redirect_binding import SignatureError
from gateway.store.memory import MemoryStore

JSON = {"Content-Type": "application/json"}
PATH = "/_security/saml/complete_logout"
NOW = 1_800_000_000.0
FAILED = "urn:oasis:names:tc:SAML:2.0:status:Responder"


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(tmp_path_factory.mktemp("idp"))


@pytest.fixture(scope="module")
def sp(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(tmp_path_factory.mktemp("sp"), cn="gateway SP")


@pytest.fixture
def gateway(tmp_path: Path, idp: Keys, sp: Keys) -> Callable[..., Gateway]:
    def build(store: MemoryStore | None = None, folder: str = "gw", **extra: Any) -> Gateway:
        routes = {"saml_logout": {}, **extra.pop("routes", {})}
        return make_gateway(
            tmp_path / folder,
            backend=store or MemoryStore(),
            clock=Clock(NOW),
            saml=saml_settings(idp, sp),
            routes=routes,
            **extra,
        )

    return build


def issued_logout(gw: Gateway, access: str = "acc-1") -> str:
    """Log in and out through the gateway; the LogoutRequest ID it issued."""
    content = saml_response_b64("alice@example.com", "_sess-7")
    body = json.dumps({"content": content, "ids": ["_r"], "realm": "saml1"}).encode()
    tokens = json.dumps({"access_token": access, "refresh_token": access + "-r"}).encode()
    run(
        gw.handle_response(
            req("POST", "/_security/saml/authenticate", JSON, body), Response(200, (), tokens)
        )
    )
    answer = run(
        gw.handle_request(
            req("POST", "/_security/saml/logout", JSON, json.dumps({"token": access}).encode())
        )
    )
    request_id = json.loads(answer.body)["id"]
    assert isinstance(request_id, str)
    return request_id


def complete(gw: Gateway, ids: list[str], **body: Any) -> Respond | Forward:
    payload = json.dumps({"ids": ids, "realm": "saml1", **body}).encode()
    return run(gw.handle_request(req("POST", PATH, JSON, payload)))


def redirect_answer(idp: Keys, in_response_to: str | None, **xml: Any) -> str:
    return redirect_query(
        logout_response_xml(now=NOW, in_response_to=in_response_to, **xml),
        idp.signer,
        param="SAMLResponse",
    )


def post_answer(idp: Keys, in_response_to: str | None, **xml: Any) -> str:
    return post_content(logout_response_xml(now=NOW, in_response_to=in_response_to, **xml), idp)


# --------------------------------------------------------------------------- success


def test_redirect_binding_success_is_200_and_consumes_the_id(tmp_path, idp, gateway):
    gw = gateway()
    request_id = issued_logout(gw)
    answer = complete(gw, [request_id], query_string=redirect_answer(idp, request_id))
    assert isinstance(answer, Respond) and answer.status == 200
    assert json.loads(answer.body) == {}
    record = audit_records(tmp_path / "gw" / "audit.jsonl")[-1]
    assert (record["event"], record["route"], record["reason"], record["outcome"]) == (
        "logout",
        "saml_complete",
        "idp",
        "success",
    )
    # the same response again is a replay
    again = complete(gw, [request_id], query_string=redirect_answer(idp, request_id))
    assert again.status == 401 and "already completed" in json.loads(again.body)["error"]["reason"]


def test_post_binding_success_verified_by_signxml(tmp_path, idp, gateway):
    gw = gateway()
    request_id = issued_logout(gw)
    answer = complete(gw, ["_other", request_id], content=post_answer(idp, request_id))
    assert answer.status == 200 and json.loads(answer.body) == {}


def test_post_binding_ecdsa(tmp_path, sp, gateway):
    ec_idp = Keys(tmp_path / "ec-idp", alg="ec")
    gw = make_gateway(
        tmp_path / "ec",
        clock=Clock(NOW),
        saml=saml_settings(ec_idp, sp),
        routes={"saml_logout": {}},
    )
    request_id = issued_logout(gw)
    answer = complete(gw, [request_id], content=post_answer(ec_idp, request_id))
    assert answer.status == 200


def test_issued_on_one_replica_completed_on_another(tmp_path, idp, gateway):
    store = MemoryStore()
    a, b = gateway(store, "a"), gateway(store, "b")
    request_id = issued_logout(a)
    assert complete(b, [request_id], query_string=redirect_answer(idp, request_id)).status == 200
    again = complete(a, [request_id], query_string=redirect_answer(idp, request_id))
    assert again.status == 401


def test_forward_mode_checks_then_forwards_without_needing_our_id(tmp_path, idp, gateway):
    gw = gateway(routes={"saml_complete": {"mode": "forward"}})
    answer = complete(gw, ["_es-issued"], query_string=redirect_answer(idp, "_es-issued"))
    assert answer == Forward(route="saml_complete")
    bad = complete(gw, ["_es-issued"], query_string=redirect_answer(idp, "_nope"))
    assert bad.status == 401


# --------------------------------------------------------------------------- refusals


def refused(tmp_path: Path, answer: Respond | Forward, why: str) -> None:
    assert isinstance(answer, Respond) and answer.status == 401, answer
    error = json.loads(answer.body)
    assert error["error"]["type"] == "security_exception" and why in error["error"]["reason"]
    record = audit_records(tmp_path / "gw" / "audit.jsonl")[-1]
    assert (record["event"], record["route"], record["status"]) == (
        "invalid_request",
        "saml_complete",
        401,
    )
    assert why in record["reason"]


def test_response_to_an_id_we_never_issued(tmp_path, idp, gateway):
    gw = gateway()
    answer = complete(gw, ["_made-up"], query_string=redirect_answer(idp, "_made-up"))
    refused(tmp_path, answer, "no LogoutRequest a gateway of this store issued")


def test_in_response_to_not_among_ids(tmp_path, idp, gateway):
    gw = gateway()
    request_id = issued_logout(gw)
    answer = complete(gw, ["_other"], query_string=redirect_answer(idp, request_id))
    refused(tmp_path, answer, "not one of the given ids")


def test_missing_in_response_to(tmp_path, idp, gateway):
    gw = gateway()
    answer = complete(gw, ["_x"], query_string=redirect_answer(idp, None))
    refused(tmp_path, answer, "no InResponseTo")


def test_non_success_status_is_refused_and_audited_with_the_status(tmp_path, idp, gateway):
    gw = gateway()
    request_id = issued_logout(gw)
    answer = complete(
        gw, [request_id], query_string=redirect_answer(idp, request_id, status=FAILED)
    )
    refused(tmp_path, answer, f"IdP status {FAILED}")
    # the ID was not consumed: a later Success still completes the logout
    later = complete(
        gw, [request_id], query_string=redirect_answer(idp, request_id, response_id="_r2")
    )
    assert later.status == 200


@pytest.mark.parametrize(
    ("xml", "why"),
    [
        ({"issuer": "https://evil.example.com"}, "Issuer"),
        ({"issuer": None}, "no Issuer"),
        ({"destination": "https://elsewhere.example.com/"}, "Destination"),
    ],
)
def test_issuer_and_destination(tmp_path, idp, gateway, xml, why):
    gw = gateway()
    request_id = issued_logout(gw)
    refused(
        tmp_path,
        complete(gw, [request_id], query_string=redirect_answer(idp, request_id, **xml)),
        why,
    )
    refused(tmp_path, complete(gw, [request_id], content=post_answer(idp, request_id, **xml)), why)


def test_expired_response(tmp_path, idp, gateway):
    gw = gateway()
    request_id = issued_logout(gw)
    old = logout_response_xml(now=NOW - 600, in_response_to=request_id)
    answer = complete(
        gw, [request_id], query_string=redirect_query(old, idp.signer, param="SAMLResponse")
    )
    refused(tmp_path, answer, "expired")


def test_unsigned_and_wrongly_signed_redirect(tmp_path, idp, sp, gateway):
    gw = gateway()
    request_id = issued_logout(gw)
    xml = logout_response_xml(now=NOW, in_response_to=request_id)
    unsigned = redirect_query(xml, None, param="SAMLResponse")
    refused(tmp_path, complete(gw, [request_id], query_string=unsigned), "not signed")
    other = redirect_query(xml, sp.signer, param="SAMLResponse")
    refused(tmp_path, complete(gw, [request_id], query_string=other), "does not verify")


def test_unsigned_and_wrongly_signed_post(tmp_path, idp, sp, gateway):
    gw = gateway()
    request_id = issued_logout(gw)
    xml = logout_response_xml(now=NOW, in_response_to=request_id)
    unsigned = base64.b64encode(xml).decode()
    refused(tmp_path, complete(gw, [request_id], content=unsigned), "not signed")
    refused(tmp_path, complete(gw, [request_id], content=post_content(xml, sp)), "does not verify")


def test_tampered_post_is_refused(tmp_path, idp, gateway):
    gw = gateway()
    request_id = issued_logout(gw)
    signed = base64.b64decode(post_answer(idp, request_id, status=FAILED))
    tampered = signed.replace(FAILED.encode(), b"urn:oasis:names:tc:SAML:2.0:status:Success")
    answer = complete(gw, [request_id], content=base64.b64encode(tampered).decode())
    refused(tmp_path, answer, "does not verify")


def test_signature_wrapping_is_refused(tmp_path, idp, gateway):
    """A genuinely signed Success for another request, wrapped inside a forged
    outer message naming ours: the signature does not cover the root."""
    gw = gateway()
    request_id = issued_logout(gw)
    genuine = base64.b64decode(post_answer(idp, "_old-request", response_id="_genuine")).decode()
    forged_outer = logout_response_xml(
        now=NOW, in_response_to=request_id, response_id="_forged"
    ).decode()
    # the genuine Signature moves up to sit under the forged root; the element it
    # covers, unchanged otherwise, hides in Extensions (XSW, as in CVE-2017-11427)
    start = genuine.index("<ds:Signature")
    signature = genuine[start : genuine.index("</ds:Signature>") + len("</ds:Signature>")]
    unsigned = genuine.replace(signature, "")
    wrapped = forged_outer.replace(
        "<samlp:Status>", f"<samlp:Extensions>{unsigned}</samlp:Extensions><samlp:Status>"
    )
    wrapped = wrapped.replace("</saml:Issuer>", "</saml:Issuer>" + signature, 1)
    answer = complete(gw, [request_id], content=base64.b64encode(wrapped.encode()).decode())
    refused(tmp_path, answer, "the signature does not cover the message root")


def test_dtd_in_post_binding_is_refused_before_signxml(tmp_path, idp, gateway, monkeypatch):
    import gateway.saml.post_binding as post_binding

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("signxml saw a DTD")

    monkeypatch.setattr(post_binding.XMLVerifier, "verify", never)
    gw = gateway()
    xml = b'<!DOCTYPE r [<!ENTITY e "x">]>' + logout_response_xml(now=NOW, in_response_to="_x")
    answer = complete(gw, ["_x"], content=base64.b64encode(xml).decode())
    refused(tmp_path, answer, "DTDForbidden")


def test_deflate_bomb_in_signed_redirect_is_refused(tmp_path, idp, gateway):
    import zlib
    from urllib.parse import quote_plus

    from gateway.saml.redirect_binding import SIG_ALG_URIS

    gw = gateway()
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = bomb.compress(b"<" + b"A" * (20 * 1024 * 1024)) + bomb.flush()
    query = "SAMLResponse=" + quote_plus(base64.b64encode(data).decode(), safe="")
    query += "&SigAlg=" + quote_plus(SIG_ALG_URIS["rsa-sha256"], safe="")
    signature = base64.b64encode(idp.signer.sign(query.encode())).decode()
    query += "&Signature=" + quote_plus(signature, safe="")
    refused(tmp_path, complete(gw, ["_x"], query_string=query), "inflates to more than")


def test_oversized_post_content_is_413(tmp_path, idp, gateway):
    gw = gateway()
    answer = complete(gw, ["_x"], content="A" * 70000)
    assert answer.status == 413


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"ids": []}, "ids is missing"),
        ({"ids": "x"}, "list of non-empty strings"),
        ({"ids": ["_x"]}, "exactly one of query_string or content"),
        ({"ids": ["_x"], "query_string": "a", "content": "b"}, "exactly one of"),
        ({"ids": ["_x"], "content": "b", "token": 1}, "unknown field [token]"),
        ({"ids": ["_x"] * 101, "content": "b"}, "more than 100"),
    ],
)
def test_malformed_bodies_are_es_400(tmp_path, gateway, body, why):
    gw = gateway()
    answer = run(gw.handle_request(req("POST", PATH, JSON, json.dumps(body).encode())))
    assert answer.status == 400 and why in json.loads(answer.body)["error"]["reason"]


def test_enveloped_verifier_directly(tmp_path, idp, sp):
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(idp.cert.read_bytes())
    xml = logout_response_xml(now=NOW, in_response_to="_a")
    signed = base64.b64decode(post_content(xml, idp))
    covered = verify_enveloped(signed, [cert])
    assert b"LogoutResponse" in covered and b"Signature" not in covered
    other = x509.load_pem_x509_certificate(sp.cert.read_bytes())
    assert verify_enveloped(signed, [other, cert]) == covered  # key rollover: either verifies
    with pytest.raises(SignatureError):
        verify_enveloped(signed, [other])
    # a signature over a child element, not the root
    with_child_id = xml.replace(b"<saml:Issuer>", b'<saml:Issuer ID="_child">')
    inner = base64.b64decode(post_content(with_child_id, idp, reference_uri="#_child"))
    with pytest.raises(SignatureError):
        verify_enveloped(inner, [cert])
