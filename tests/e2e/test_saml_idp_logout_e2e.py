"""SAML logout started at the IdP, and the IdP's answers to ours, end to end
(issue 13, SPEC §10.2-§10.3): `gateway run` and the demo upstream as real
processes; pysaml2 7.5 as the IdP, loading the metadata `gateway saml metadata`
prints, producing the messages and judging the gateway's.

* IdP-initiated: pysaml2 signs a LogoutRequest (Redirect binding) for one
  SessionIndex of a NameID with two sessions; `saml/invalidate` ends that one
  session only and answers with a LogoutResponse pysaml2 verifies and accepts.
* complete_logout: the IdP's LogoutResponse to the LogoutRequest
  `saml/logout` issued, in the Redirect binding and the POST binding (XML
  signature by xmlsec1, through pysaml2).
* Refused and audited, nothing revoked: unsigned, tampered, replayed, SHA-1.
"""

from __future__ import annotations

import base64
import json
import subprocess
from urllib.parse import urlsplit

import pytest
from procs import BIN, request, running_gateway, write_config
from saml2 import BINDING_HTTP_REDIRECT
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
from saml2.sigver import verify_redirect_signature
from saml2.time_util import in_a_while
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256
from samltest import idp_params, make_idp, parse_logout, saml_response_b64
from secrets_registry import remember

from gateway.saml.keys import generate_sp_keypair

pytestmark = pytest.mark.slow

SP_ENTITY = "http://127.0.0.1:8080/"
IDP_ENTITY = "https://idp.example.com/idp"
IDP_SLO = "https://idp.example.com/idp/profile/SAML2/Redirect/SLO"
SP_SLO = "http://127.0.0.1:8080/logout"  # Kibana's logout URL in a real set-up
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def setup(tmp_path, upstream):
    sp_key, sp_cert = generate_sp_keypair(tmp_path / "sp")
    idp_key, idp_cert = generate_sp_keypair(tmp_path / "idp", cn="test IdP")
    config = write_config(
        tmp_path,
        upstream.url,
        routes={"saml_logout": {"mode": "short_circuit"}},
        saml={
            "sp_entity_id": SP_ENTITY,
            "idp_entity_id": IDP_ENTITY,
            "idp_slo_url": IDP_SLO,
            "sp_slo_url": SP_SLO,
            "sp_acs_url": "http://127.0.0.1:8080/api/security/saml/callback",
            "sp_key_file": str(sp_key),
            "sp_cert_file": str(sp_cert),
            "idp_cert_file": str(idp_cert),
        },
    )
    metadata = subprocess.run(
        [BIN / "gateway", "saml", "metadata", "--config", config],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    idp = make_idp(
        entity_id=IDP_ENTITY, slo_url=IDP_SLO, sp_metadata=metadata, key=idp_key, cert=idp_cert
    )
    return config, idp


def authenticate(port, name_id, session_index):
    content = saml_response_b64(name_id, session_index)
    payload = {"content": content, "ids": ["_req1"], "realm": "saml1"}
    status, _, body = request(
        port, "POST", "/_security/saml/authenticate", JSON, json.dumps(payload).encode()
    )
    assert status == 200, body
    tokens = json.loads(body)
    remember(tokens["access_token"], tokens["refresh_token"], content)
    return tokens


def use(port, token):
    return request(port, "GET", "/_security/_authenticate", {"Authorization": f"Bearer {token}"})[0]


def post(port, path, payload):
    status, _, body = request(port, "POST", path, JSON, json.dumps(payload).encode())
    return status, json.loads(body)


def idp_logout_request(idp, name_id, session_index, relay_state=None, sign=True):
    """What the IdP redirects the browser to the SP with (Kibana strips the `?`)."""
    request_id, message = idp.create_logout_request(
        destination=SP_SLO,
        issuer_entity_id=SP_ENTITY,
        name_id=NameID(text=name_id, format=NAMEID_FORMAT_PERSISTENT),
        session_indexes=[session_index] if session_index else None,
        expire=in_a_while(minutes=5),
    )
    info = idp.apply_binding(
        BINDING_HTTP_REDIRECT,
        str(message),
        SP_SLO,
        relay_state=relay_state,
        sign=sign,
        sigalg=SIG_RSA_SHA256,
    )
    query = urlsplit(dict(info["headers"])["Location"]).query
    remember(query)
    return request_id, query


def test_idp_initiated_logout_ends_one_session_and_pysaml2_accepts_the_answer(tmp_path, setup):
    config, idp = setup
    with running_gateway(config) as gw:
        first = authenticate(gw.port, "alice@example.com", "_sess-1")
        second = authenticate(gw.port, "alice@example.com", "_sess-2")
        bob = authenticate(gw.port, "bob@example.com", "_sess-1")
        tokens = [first["access_token"], second["access_token"], bob["access_token"]]
        assert [use(gw.port, t) for t in tokens] == [200, 200, 200]

        relay = "https://kibana.example.com/logged_out?next=/app/home#a&b"
        request_id, query = idp_logout_request(idp, "alice@example.com", "_sess-1", relay)
        status, answer = post(
            gw.port, "/_security/saml/invalidate", {"query_string": query, "realm": "saml1"}
        )
        assert status == 200, answer
        assert answer["invalidated"] == 2 and answer["realm"] == "saml1"
        # Only the named session ended; the other session of the same NameID and bob's work.
        assert [use(gw.port, t) for t in tokens] == [401, 200, 200]
        status = request(
            gw.port,
            "POST",
            "/_security/oauth2/token",
            JSON,
            json.dumps(
                {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
            ).encode(),
        )[0]
        assert status == 401

        # The IdP checks the gateway's LogoutResponse as it would any SP's.
        assert answer["redirect"].startswith(IDP_SLO + "?SAMLResponse=")
        params = idp_params(answer["redirect"])
        remember(params["SAMLResponse"], params["Signature"])
        sp_cert = idp.metadata.certs(SP_ENTITY, "any", "signing")[0][1]
        assert verify_redirect_signature(params, idp.sec.sec_backend, cert=sp_cert)
        response = idp.parse_logout_request_response(params["SAMLResponse"], BINDING_HTTP_REDIRECT)
        assert response is not None
        assert response.response.in_response_to == request_id
        assert response.response.issuer.text == SP_ENTITY
        assert (
            response.response.status.status_code.value
            == "urn:oasis:names:tc:SAML:2.0:status:Success"
        )
        assert params["RelayState"] == relay  # echoed exactly

        # Refused and audited, nothing revoked: replay, unsigned, tampered, wrong key.
        assert post(gw.port, "/_security/saml/invalidate", {"query_string": query})[0] == 401
        _, unsigned = idp_logout_request(idp, "alice@example.com", "_sess-2", sign=False)
        assert post(gw.port, "/_security/saml/invalidate", {"query_string": unsigned})[0] == 401
        _, other = idp_logout_request(idp, "alice@example.com", "_sess-2", relay_state="abc")
        tampered = other.replace("RelayState=abc", "RelayState=abd")
        assert post(gw.port, "/_security/saml/invalidate", {"query_string": tampered})[0] == 401
        assert [use(gw.port, t) for t in tokens] == [401, 200, 200]

        # Without a SessionIndex the IdP ends every session of the NameID.
        _, everything = idp_logout_request(idp, "alice@example.com", None)
        status, answer = post(gw.port, "/_security/saml/invalidate", {"queryString": everything})
        assert (
            status == 200 and answer["invalidated"] == 2
        )  # the second pair; the first was already
        assert [use(gw.port, t) for t in tokens] == [401, 401, 200]
        output = gw.proc.text

    records = [
        json.loads(line) for line in (tmp_path / "state" / "audit.jsonl").read_text().splitlines()
    ]
    logouts = [r for r in records if r["event"] == "logout" and r["route"] == "saml_invalidate"]
    assert [(r["reason"], r["outcome"], r["user"]) for r in logouts] == [
        ("idp", "success", "alice@example.com"),
        ("idp", "success", "alice@example.com"),
    ]
    refusals = [r for r in records if r["event"] == "invalid_request"]
    assert [r["status"] for r in refusals] == [401, 401, 401]
    assert "replay" in refusals[0]["reason"] and "not signed" in refusals[1]["reason"]
    assert "does not verify" in refusals[2]["reason"]
    audit_text = (tmp_path / "state" / "audit.jsonl").read_text()
    for secret in (query, first["access_token"], params["SAMLResponse"]):
        assert secret not in output and secret not in audit_text


def idp_answer(idp, gateway_redirect, *, post_binding=False, status=None):
    """The IdP takes the gateway's LogoutRequest and answers it."""
    params = idp_params(gateway_redirect)
    parsed = parse_logout(idp, params)
    assert parsed is not None
    if post_binding:
        # Signed with SHA-256 (pysaml2 defaults to SHA-1, which the gateway refuses).
        xml = idp.create_logout_response(
            parsed.message,
            [BINDING_HTTP_REDIRECT],
            status=status,
            sign=True,
            sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
        )
        content = base64.b64encode(str(xml).encode()).decode()
        remember(content)
        return parsed.message.id, {"content": content}
    response = idp.create_logout_response(parsed.message, [BINDING_HTTP_REDIRECT], status=status)
    info = idp.apply_binding(
        BINDING_HTTP_REDIRECT,
        str(response),
        SP_SLO,
        None,
        response=True,
        sign=True,
        sigalg=SIG_RSA_SHA256,
    )
    query = urlsplit(dict(info["headers"])["Location"]).query
    remember(query)
    return parsed.message.id, {"query_string": query}


def test_complete_logout_with_pysaml2_answers_in_both_bindings(tmp_path, setup):
    from saml2.s_utils import status_message_factory
    from saml2.samlp import STATUS_RESPONDER

    config, idp = setup
    with running_gateway(config) as gw:
        outcomes = []
        for kind in ("redirect", "post", "sha1", "failed"):
            tokens = authenticate(gw.port, f"{kind}@example.com", f"_sess-{kind}")
            status, logout = post(
                gw.port, "/_security/saml/logout", {"token": tokens["access_token"]}
            )
            assert status == 200 and logout["id"]
            failed = (
                status_message_factory("IdP could not log out everyone", STATUS_RESPONDER)
                if kind == "failed"
                else None
            )
            if kind == "sha1":
                params = idp_params(logout["redirect"])
                parsed = parse_logout(idp, params)
                xml = idp.create_logout_response(
                    parsed.message, [BINDING_HTTP_REDIRECT], sign=True
                )  # pysaml2's SHA-1 default
                body = {"content": base64.b64encode(str(xml).encode()).decode()}
                request_id = parsed.message.id
            else:
                request_id, body = idp_answer(
                    idp, logout["redirect"], post_binding=kind == "post", status=failed
                )
            assert request_id == logout["id"]
            status, answer = post(
                gw.port,
                "/_security/saml/complete_logout",
                {"ids": [logout["id"]], "realm": "saml1", **body},
            )
            outcomes.append((kind, status, answer))
            if kind in ("redirect", "post"):
                # replayed: the issued ID was consumed
                again = post(
                    gw.port, "/_security/saml/complete_logout", {"ids": [logout["id"]], **body}
                )
                outcomes.append((kind + " again", again[0], again[1]))
        # an ID this gateway never issued
        request_id, body = idp_answer(idp, logout["redirect"])
        status, answer = post(
            gw.port, "/_security/saml/complete_logout", {"ids": ["_never-issued"], **body}
        )
        outcomes.append(("not in ids", status, answer))

    got = [(kind, status) for kind, status, _ in outcomes]
    assert got == [
        ("redirect", 200),
        ("redirect again", 401),
        ("post", 200),
        ("post again", 401),
        ("sha1", 401),
        ("failed", 401),
        ("not in ids", 401),
    ], outcomes
    assert outcomes[0][2] == {} and outcomes[2][2] == {}
    assert "RSA_SHA1" in outcomes[4][2]["error"]["reason"]
    assert "urn:oasis:names:tc:SAML:2.0:status:Responder" in outcomes[5][2]["error"]["reason"]
    records = [
        json.loads(line) for line in (tmp_path / "state" / "audit.jsonl").read_text().splitlines()
    ]
    completed = [r for r in records if r["route"] == "saml_complete"]
    assert [(r["event"], r["status"]) for r in completed] == [
        ("logout", 200),
        ("invalid_request", 401),
        ("logout", 200),
        ("invalid_request", 401),
        ("invalid_request", 401),
        ("invalid_request", 401),
        ("invalid_request", 401),
    ]
    assert "IdP status urn:oasis:names:tc:SAML:2.0:status:Responder" in completed[5]["reason"]
