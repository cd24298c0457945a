"""IdP-initiated SAML logout, route `saml_invalidate` (issue 13, SPEC §10.2),
through the engine with a memory store and a real audit file."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
from cryptography import x509
from gwtest import Clock, audit_records, make_gateway, req, run
from samltest import saml_response_b64
from slotest import (
    IDP_SLO,
    SP_ENTITY,
    Keys,
    logout_request_xml,
    logout_response_xml,
    raw_ecdsa_signature_query,
    redirect_query,
    saml_settings,
)

from gateway.engine import Gateway
from gateway.http import Forward, Respond, Response
from gateway.saml.redirect_binding import SIG_ALG_URIS, inflate_b64, verify_redirect_query
from gateway.saml.slo_messages import parse_logout_response
from gateway.store import StoreError
from gateway.store.memory import MemoryStore

JSON = {"Content-Type": "application/json"}
PATH = "/_security/saml/invalidate"
NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(tmp_path_factory.mktemp("idp"))


@pytest.fixture(scope="module")
def sp(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(tmp_path_factory.mktemp("sp"), cn="gateway SP")


@pytest.fixture
def gateway(sp: Keys) -> Callable[..., Gateway]:
    def build(tmp: Path, idp: Keys, store: MemoryStore | None = None, **extra: Any) -> Gateway:
        saml = saml_settings(idp, sp, **extra.pop("saml", {}))
        return make_gateway(
            tmp, backend=store or MemoryStore(), clock=Clock(NOW), saml=saml, **extra
        )

    return build


def learn(gw: Gateway, access: str, refresh: str, name_id: str, session_index: str) -> None:
    """What the gateway learns from a SAML login answered by the upstream."""
    content = saml_response_b64(name_id, session_index)
    body = json.dumps({"content": content, "ids": ["_r"], "realm": "saml1"}).encode()
    tokens = {
        "access_token": access,
        "refresh_token": refresh,
        "username": name_id,
        "realm": "saml1",
    }
    run(
        gw.handle_response(
            req("POST", "/_security/saml/authenticate", JSON, body),
            Response(200, (("content-type", "application/json"),), json.dumps(tokens).encode()),
        )
    )


def use(gw: Gateway, token: str) -> Forward | Respond:
    return run(
        gw.handle_request(
            req("GET", "/_security/_authenticate", {"Authorization": f"Bearer {token}"})
        )
    )


def invalidate(gw: Gateway, query: str, **body: Any) -> Respond:
    payload = json.dumps({"query_string": query, **body}).encode()
    answer = run(gw.handle_request(req("POST", PATH, JSON, payload)))
    assert isinstance(answer, Respond)
    return answer


def signed(idp: Keys, relay_state: str | None = None, **xml: Any) -> str:
    return redirect_query(logout_request_xml(now=NOW, **xml), idp.signer, relay_state=relay_state)


def two_sessions(gw: Gateway) -> None:
    learn(gw, "acc-1", "ref-1", "alice@example.com", "_sess-7")
    learn(gw, "acc-2", "ref-2", "alice@example.com", "_sess-8")
    learn(gw, "acc-3", "ref-3", "bob@example.com", "_sess-7")


# --------------------------------------------------------------------------- the logout


def test_invalidates_only_the_named_session_and_answers_a_signed_logout_response(
    tmp_path, idp, gateway
):
    gw = gateway(tmp_path, idp)
    two_sessions(gw)
    answer = invalidate(gw, signed(idp, relay_state=None), realm="saml1")
    assert answer.status == 200
    body = json.loads(answer.body)
    assert body["invalidated"] == 2 and body["realm"] == "saml1"
    # the named SessionIndex ends; alice's other session and bob's stay
    assert use(gw, "acc-1").status == 401
    assert use(gw, "acc-2") == Forward() and use(gw, "acc-3") == Forward()

    redirect = body["redirect"]
    assert redirect.startswith(IDP_SLO + "?SAMLResponse=")
    sp_cert = x509.load_pem_x509_certificate(Path(gw.config.saml.sp_cert_file).read_bytes())
    params = verify_redirect_query(
        urlsplit(redirect).query, sp_cert, allowed_alg_uris=[SIG_ALG_URIS["rsa-sha256"]]
    )
    response = parse_logout_response(inflate_b64(params["SAMLResponse"]))
    assert response.in_response_to == "_idp-req-1"
    assert (response.issuer, response.destination, response.status) == (
        SP_ENTITY,
        IDP_SLO,
        "urn:oasis:names:tc:SAML:2.0:status:Success",
    )
    assert response.issue_instant == NOW
    assert "RelayState" not in params

    record = audit_records(tmp_path / "audit.jsonl")[0]
    assert (record["event"], record["route"], record["reason"], record["outcome"]) == (
        "logout",
        "saml_invalidate",
        "idp",
        "success",
    )
    assert record["user"] == "alice@example.com" and len(record["credentials"]) == 2


def test_without_session_index_every_session_of_the_name_id_ends(tmp_path, idp, gateway):
    gw = gateway(tmp_path, idp)
    two_sessions(gw)
    answer = invalidate(gw, signed(idp, session_indexes=()))
    assert json.loads(answer.body)["invalidated"] == 4
    assert use(gw, "acc-1").status == 401 and use(gw, "acc-2").status == 401
    assert use(gw, "acc-3") == Forward()


def test_refreshed_pairs_of_the_session_end_too(tmp_path, idp, gateway):
    gw = gateway(tmp_path, idp)
    learn(gw, "acc-1", "ref-1", "alice@example.com", "_sess-7")
    refresh = json.dumps({"grant_type": "refresh_token", "refresh_token": "ref-1"}).encode()
    new = json.dumps({"access_token": "acc-1b", "refresh_token": "ref-1b"}).encode()
    run(
        gw.handle_response(
            req("POST", "/_security/oauth2/token", JSON, refresh), Response(200, (), new)
        )
    )
    answer = invalidate(gw, signed(idp))
    assert json.loads(answer.body)["invalidated"] == 4
    assert use(gw, "acc-1").status == 401 and use(gw, "acc-1b").status == 401


def test_unknown_name_id_is_a_logout_with_nothing_to_revoke(tmp_path, idp, gateway):
    gw = gateway(tmp_path, idp)
    answer = invalidate(gw, signed(idp, name_id="nobody"), realm="saml1")
    assert answer.status == 200 and json.loads(answer.body)["invalidated"] == 0
    assert audit_records(tmp_path / "audit.jsonl")[0]["outcome"] == "no_session"


def test_relay_state_is_echoed_byte_for_byte(tmp_path, idp, gateway):
    gw = gateway(tmp_path, idp)
    query = signed(idp, relay_state="s=é&x=1 /+%")
    answer = invalidate(gw, query)
    redirect = json.loads(answer.body)["redirect"]
    sent = parse_qs(query)["RelayState"][0]
    assert parse_qs(urlsplit(redirect).query)["RelayState"] == [sent]
    assert f"&RelayState={quote_plus(sent, safe='')}&" in redirect


def test_relay_state_bytes_that_are_not_utf8_come_back_unchanged(tmp_path, idp, gateway):
    gw = gateway(tmp_path, idp)
    query = redirect_query(logout_request_xml(now=NOW), None)
    # sign a query carrying a raw Latin-1 RelayState byte, as a careless IdP might
    head = (
        query + "&RelayState=caf%E9" + "&SigAlg=" + quote_plus(SIG_ALG_URIS["rsa-sha256"], safe="")
    )
    signature = base64.b64encode(idp.signer.sign(head.encode())).decode()
    answer = invalidate(gw, head + "&Signature=" + quote_plus(signature, safe=""))
    assert answer.status == 200
    assert "&RelayState=caf%E9&" in json.loads(answer.body)["redirect"]


def test_older_query_string_spelling_and_leading_question_mark(tmp_path, idp, gateway):
    gw = gateway(tmp_path, idp)
    learn(gw, "acc-1", "ref-1", "alice@example.com", "_sess-7")
    payload = json.dumps({"queryString": "?" + signed(idp), "acs": "https://kibana/x"}).encode()
    answer = run(gw.handle_request(req("POST", PATH, JSON, payload)))
    assert answer.status == 200 and json.loads(answer.body)["realm"] is None
    assert use(gw, "acc-1").status == 401


def test_ecdsa_idp_signature_der_and_raw(tmp_path, gateway):
    idp = Keys(tmp_path / "idp-ec", alg="ec")
    gw = gateway(tmp_path, idp)
    assert invalidate(gw, signed(idp, request_id="_der")).status == 200
    raw = raw_ecdsa_signature_query(signed(idp, request_id="_raw"), idp)
    assert invalidate(gw, raw).status == 200


def test_forward_mode_revokes_then_forwards(tmp_path, idp, gateway):
    gw = gateway(tmp_path, idp, routes={"saml_invalidate": {"mode": "forward"}})
    learn(gw, "acc-1", "ref-1", "alice@example.com", "_sess-7")
    payload = json.dumps({"query_string": signed(idp)}).encode()
    assert run(gw.handle_request(req("POST", PATH, JSON, payload))) == Forward(
        route="saml_invalidate"
    )
    assert use(gw, "acc-1").status == 401


def test_unsigned_config_answers_an_unsigned_logout_response(tmp_path, idp, gateway):
    gw = gateway(tmp_path, idp, saml={"sign": False, "sp_key_file": None})
    redirect = json.loads(invalidate(gw, signed(idp)).body)["redirect"]
    assert "Signature=" not in redirect and "SAMLResponse=" in redirect


def test_other_methods_on_the_path_are_ordinary(tmp_path, idp, gateway):
    gw = gateway(tmp_path, idp)
    assert run(gw.handle_request(req("GET", PATH))) == Forward()


def test_inactive_until_configured(tmp_path):
    gw = make_gateway(tmp_path)
    assert gw.config.routes.saml_invalidate is None
    payload = json.dumps({"query_string": "SAMLRequest=x"}).encode()
    assert run(gw.handle_request(req("POST", PATH, JSON, payload))) == Forward()


def test_replicas_share_the_index_and_the_replay_cache(tmp_path, idp, gateway):
    store = MemoryStore()
    a = gateway(tmp_path / "a", idp, store)
    b = gateway(tmp_path / "b", idp, store)
    learn(a, "acc-1", "ref-1", "alice@example.com", "_sess-7")
    query = signed(idp)
    assert json.loads(invalidate(b, query).body)["invalidated"] == 2
    assert use(a, "acc-1").status == 401
    assert invalidate(a, query).status == 401  # the same message on the other replica


# --------------------------------------------------------------------------- refusals


def refused(tmp_path: Path, gw: Gateway, query: str, why: str, **body: Any) -> None:
    answer = invalidate(gw, query, **body)
    assert answer.status == 401, answer.body
    error = json.loads(answer.body)
    assert error["status"] == 401 and error["error"]["type"] == "security_exception"
    assert why in error["error"]["reason"]
    records = audit_records(tmp_path / "audit.jsonl")
    assert records[-1]["event"] == "invalid_request" and why in records[-1]["reason"]
    assert use(gw, "acc-1") == Forward()  # nothing revoked


@pytest.fixture
def ready(tmp_path, idp, gateway) -> Gateway:
    gw = gateway(tmp_path, idp)
    learn(gw, "acc-1", "ref-1", "alice@example.com", "_sess-7")
    return gw


def test_unsigned_request_is_refused(tmp_path, idp, ready):
    refused(tmp_path, ready, redirect_query(logout_request_xml(now=NOW), None), "not signed")


def test_request_signed_by_another_key_is_refused(tmp_path, idp, sp, ready):
    refused(tmp_path, ready, signed(sp), "does not verify")  # any key but the IdP's


def test_tampered_query_is_refused(tmp_path, idp, ready):
    query = signed(idp, relay_state="abc")
    refused(tmp_path, ready, query.replace("RelayState=abc", "RelayState=abd"), "does not verify")
    other = redirect_query(logout_request_xml(now=NOW, name_id="bob@example.com"), None)
    swapped = other.split("&")[0] + "&" + query.split("&", 1)[1]
    refused(tmp_path, ready, swapped, "does not verify")


def test_sha1_signature_is_refused(tmp_path, idp, ready):
    query = signed(idp).replace(
        quote_plus(SIG_ALG_URIS["rsa-sha256"], safe=""),
        quote_plus("http://www.w3.org/2000/09/xmldsig#rsa-sha1", safe=""),
    )
    refused(tmp_path, ready, query, "not allowed")


def test_wrong_issuer_is_refused(tmp_path, idp, ready):
    refused(tmp_path, ready, signed(idp, issuer="https://evil.example.com/idp"), "Issuer")


def test_missing_issuer_is_refused(tmp_path, idp, ready):
    refused(tmp_path, ready, signed(idp, issuer=None), "no Issuer")


def test_wrong_destination_is_refused(tmp_path, idp, ready):
    refused(
        tmp_path, ready, signed(idp, destination="https://other.example.com/logout"), "Destination"
    )
    refused(tmp_path, ready, signed(idp, destination=None, request_id="_d2"), "Destination")


def test_expired_request_is_refused(tmp_path, idp, ready):
    old = logout_request_xml(now=NOW - 300 - 180 - 5)
    refused(tmp_path, ready, redirect_query(old, idp.signer), "expired")
    past = logout_request_xml(now=NOW - 10, request_id="_n", not_on_or_after=NOW - 181)
    refused(tmp_path, ready, redirect_query(past, idp.signer), "NotOnOrAfter")


def test_request_from_the_future_is_refused(tmp_path, idp, ready):
    future = logout_request_xml(now=NOW + 181)
    refused(tmp_path, ready, redirect_query(future, idp.signer), "future")


def test_within_clock_skew_is_accepted(tmp_path, idp, ready):
    skewed = logout_request_xml(now=NOW + 170, not_on_or_after=NOW - 170)
    assert invalidate(ready, redirect_query(skewed, idp.signer)).status == 200


def test_replayed_request_id_is_refused(tmp_path, idp, ready):
    query = signed(idp)
    assert invalidate(ready, query).status == 200
    learn(ready, "acc-9", "ref-9", "alice@example.com", "_sess-7")  # a new login meanwhile
    refused_answer = invalidate(ready, query)
    assert (
        refused_answer.status == 401
        and "replay" in json.loads(refused_answer.body)["error"]["reason"]
    )
    assert use(ready, "acc-9") == Forward()


def test_a_response_in_place_of_a_request_is_refused(tmp_path, idp, ready):
    query = redirect_query(
        logout_response_xml(now=NOW, in_response_to="_x"), idp.signer, param="SAMLResponse"
    )
    refused(tmp_path, ready, query, "no SAMLRequest")


def test_dtd_in_a_signed_request_is_refused(tmp_path, idp, ready):
    dtd = '<!DOCTYPE x [<!ENTITY e "alice@example.com">]>'
    query = redirect_query(logout_request_xml(now=NOW, prolog=dtd), idp.signer)
    refused(tmp_path, ready, query, "DTDForbidden")


def test_deflate_bomb_in_a_signed_request_is_refused_at_the_cap(tmp_path, idp, ready):
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = bomb.compress(b"<" + b"A" * (20 * 1024 * 1024)) + bomb.flush()
    query = "SAMLRequest=" + quote_plus(base64.b64encode(data).decode(), safe="")
    query += "&SigAlg=" + quote_plus(SIG_ALG_URIS["rsa-sha256"], safe="")
    signature = base64.b64encode(idp.signer.sign(query.encode())).decode()
    refused(
        tmp_path,
        ready,
        query + "&Signature=" + quote_plus(signature, safe=""),
        "inflates to more than",
    )


def test_unsigned_deflate_bomb_is_never_inflated(tmp_path, idp, ready, monkeypatch):
    import gateway.logouts.saml_invalidate as route

    def boom(*args: Any, **kwargs: Any) -> bytes:
        raise AssertionError("inflated before the signature was checked")

    monkeypatch.setattr(route, "inflate_b64", boom)
    refused(tmp_path, ready, "SAMLRequest=AAAA", "not signed")


def test_encrypted_name_id_is_refused(tmp_path, idp, ready):
    xml = logout_request_xml(now=NOW).replace(
        b'<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">alice@example.com</saml:NameID>',
        b"<saml:EncryptedID/>",
    )
    refused(tmp_path, ready, redirect_query(xml, idp.signer), "cannot read")


@pytest.mark.parametrize(
    ("body", "status", "why"),
    [
        (b"{oops", 400, "Failed to parse"),
        (b"{}", 400, "query_string is missing"),
        (b'{"query_string": 5}', 400, "must be a string"),
        (b'{"query_string": "a", "queryString": "b"}', 400, "given twice"),
        (b'{"query_string": "a", "token": "b"}', 400, "unknown field [token]"),
        (b'{"query_string": "a", "query_string": "b"}', 400, "Duplicate field"),
    ],
)
def test_malformed_bodies_are_es_400(tmp_path, idp, ready, body, status, why):
    answer = run(ready.handle_request(req("POST", PATH, JSON, body)))
    assert answer.status == status and why in json.loads(answer.body)["error"]["reason"]
    assert audit_records(tmp_path / "audit.jsonl")[-1]["event"] == "invalid_request"


def test_oversized_body_is_413_and_encoded_body_415(tmp_path, idp, ready):
    big = json.dumps({"query_string": "x" * 70000}).encode()
    assert run(ready.handle_request(req("POST", PATH, JSON, big))).status == 413
    gz = req("POST", PATH, {**JSON, "Content-Encoding": "gzip"}, b"\x1f\x8b")
    assert run(ready.handle_request(gz)).status == 415
    statuses = [r["status"] for r in audit_records(tmp_path / "audit.jsonl")]
    assert statuses == [413, 415]


def test_store_failure_is_503(tmp_path, idp, gateway):
    class Failing(MemoryStore):
        async def is_claimed(self, scope, key, now):
            raise StoreError("down")

    gw = gateway(tmp_path, idp, Failing())
    assert invalidate(gw, signed(idp)).status == 503


def test_retry_after_a_failed_revocation_is_not_a_replay(tmp_path, idp, gateway):
    """The request ID is claimed only once the logout is done: after a 503 the
    same LogoutRequest (the browser retrying) is handled, not refused."""

    class FailsOnce(MemoryStore):
        failed = False

        async def revoke(self, *args, **kwargs):
            if not self.failed:
                self.failed = True
                raise StoreError("down for a moment")
            return await super().revoke(*args, **kwargs)

    gw = gateway(tmp_path, idp, FailsOnce())
    two_sessions(gw)
    message = signed(idp)
    assert invalidate(gw, message).status == 503
    assert invalidate(gw, message).status == 200
    assert invalidate(gw, message).status == 401  # now it is a replay
