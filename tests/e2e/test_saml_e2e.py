"""End to end, Elasticsearch side: `gateway run` + demo upstream as real
processes; pysaml2 as the IdP loading the metadata `gateway saml metadata` prints."""

from __future__ import annotations

import hashlib
import json
import subprocess
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from procs import BIN, request, running_gateway, write_config
from samltest import idp_params, make_idp, parse_logout, saml_response_b64
from secrets_registry import remember

from gateway.saml.keys import generate_sp_keypair
from gateway.saml.redirect_binding import SIG_ALG_URIS, verify_redirect_query

pytestmark = pytest.mark.slow

SP_ENTITY = "http://127.0.0.1:8080/"
IDP_ENTITY = "https://idp.example.com/idp"
IDP_SLO = "https://idp.example.com/idp/profile/SAML2/Redirect/SLO"
JSON = {"Content-Type": "application/json"}


def fp16(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def saml_config(tmp_path, upstream, mode="short_circuit", alg="rsa"):
    key, cert = generate_sp_keypair(tmp_path / "sp", alg=alg)
    config = write_config(
        tmp_path,
        upstream.url,
        routes={"saml_logout": {"mode": mode}},
        saml={
            "sp_entity_id": SP_ENTITY,
            "idp_entity_id": IDP_ENTITY,
            "idp_slo_url": IDP_SLO,
            "sp_slo_url": "http://127.0.0.1:8080/logout",
            "sp_acs_url": "http://127.0.0.1:8080/api/security/saml/callback",
            "sig_alg": "ecdsa-sha256" if alg == "ec" else "rsa-sha256",
            "sp_key_file": str(key),
            "sp_cert_file": str(cert),
        },
    )
    return config, key, cert


def authenticate(port, name_id="alice@example.com", session_index="_sess-7"):
    content = saml_response_b64(name_id, session_index)
    payload = {"content": content, "ids": ["_req1"], "realm": "saml1"}
    status, _, body = request(
        port, "POST", "/_security/saml/authenticate", JSON, json.dumps(payload).encode()
    )
    assert status == 200, body
    tokens = json.loads(body)
    remember(tokens["access_token"], tokens["refresh_token"], content)
    return tokens, content


def use(port, token):
    return request(port, "GET", "/_security/_authenticate", {"Authorization": f"Bearer {token}"})


def refresh(port, token):
    payload = json.dumps({"grant_type": "refresh_token", "refresh_token": token}).encode()
    return request(port, "POST", "/_security/oauth2/token", JSON, payload)


def saml_logout(port, **payload):
    status, _, body = request(
        port, "POST", "/_security/saml/logout", JSON, json.dumps(payload).encode()
    )
    return status, json.loads(body)


def bearer_arrivals(upstream, token):
    return sum(1 for r in upstream.requests() if r["authorization"] == fp16(f"Bearer {token}"))


def test_saml_logout_signed_redirect_accepted_by_pysaml2(tmp_path, upstream):
    config, _, _ = saml_config(tmp_path, upstream)
    metadata = subprocess.run(
        [BIN / "gateway", "saml", "metadata", "--config", config],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    idp_key, idp_cert = generate_sp_keypair(tmp_path / "idp", cn="test IdP")
    idp = make_idp(
        entity_id=IDP_ENTITY, slo_url=IDP_SLO, sp_metadata=metadata, key=idp_key, cert=idp_cert
    )

    with running_gateway(config) as gw:
        tokens, content = authenticate(gw.port)
        access, refresh_token = tokens["access_token"], tokens["refresh_token"]
        assert use(gw.port, access)[0] == 200

        status, answer = saml_logout(gw.port, token=access)
        assert status == 200
        assert answer["redirect"].startswith(IDP_SLO + "?SAMLRequest=")
        params = idp_params(answer["redirect"])
        parsed = parse_logout(idp, params)
        assert parsed is not None
        assert parsed.message.id == answer["id"]
        assert parsed.message.name_id.text == "alice@example.com"
        assert [s.text for s in parsed.message.session_index] == ["_sess-7"]
        assert parsed.message.issuer.text == SP_ENTITY

        # a tampered copy is refused by the IdP
        forged = dict(params, Signature=params["Signature"][:-8] + "AAAAAAA=")
        with pytest.raises(Exception):  # noqa: B017 - pysaml2 raises IncorrectlySigned
            assert parse_logout(idp, forged) is None

        arrivals = bearer_arrivals(upstream, access)
        status, headers, body = use(gw.port, access)
        assert status == 401 and headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert json.loads(body) == {"error": "credential_revoked"}
        tokens_before = sum(
            1 for r in upstream.requests() if r["path"] == "/_security/oauth2/token"
        )
        assert refresh(gw.port, refresh_token)[0] == 401
        # neither reached the upstream
        assert bearer_arrivals(upstream, access) == arrivals
        assert (
            sum(1 for r in upstream.requests() if r["path"] == "/_security/oauth2/token")
            == tokens_before
        )
        output = gw.proc.text

    audit_text = (tmp_path / "state" / "audit.jsonl").read_text()
    records = [json.loads(line) for line in audit_text.splitlines()]
    logout = next(r for r in records if r["event"] == "logout")
    assert (logout["route"], logout["user"], logout["outcome"]) == (
        "saml_logout",
        "alice@example.com",
        "success",
    )
    for secret in (access, refresh_token, content, params["SAMLRequest"], params["Signature"]):
        assert secret not in audit_text
        assert secret not in output
        assert secret not in upstream.log.read_text()


def test_refreshed_pair_is_logged_out_as_a_whole(tmp_path, upstream):
    config, _, _ = saml_config(tmp_path, upstream)
    with running_gateway(config) as gw:
        tokens, _ = authenticate(gw.port, session_index="_sess-r")
        status, _, body = refresh(gw.port, tokens["refresh_token"])
        assert status == 200, body
        new = json.loads(body)
        remember(new["access_token"], new["refresh_token"])
        assert use(gw.port, new["access_token"])[0] == 200
        status, answer = saml_logout(gw.port, token=new["access_token"])
        assert status == 200 and answer["id"] is not None  # identity inherited from the first pair
        for token in (new["access_token"], tokens["access_token"]):
            assert use(gw.port, token)[0] == 401
        for token in (new["refresh_token"], tokens["refresh_token"]):
            assert refresh(gw.port, token)[0] == 401


def test_forward_mode_passes_the_upstream_answer(tmp_path, upstream):
    config, _, _ = saml_config(tmp_path, upstream, mode="forward")
    with running_gateway(config) as gw:
        tokens, _ = authenticate(gw.port)
        status, answer = saml_logout(gw.port, token=tokens["access_token"])
        assert status == 200
        assert (
            urlsplit(answer["redirect"]).netloc == f"127.0.0.1:{upstream.port}"
        )  # the demo's own IdP URL
        assert use(gw.port, tokens["access_token"])[0] == 401


def test_ecdsa_signed_redirect_verifies_over_the_raw_query(tmp_path, upstream):
    config, _, cert = saml_config(tmp_path, upstream, alg="ec")
    with running_gateway(config) as gw:
        tokens, _ = authenticate(gw.port)
        status, answer = saml_logout(gw.port, token=tokens["access_token"])
    assert status == 200
    raw_query = urlsplit(answer["redirect"]).query
    certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    params = verify_redirect_query(
        raw_query, certificate, allowed_alg_uris=[SIG_ALG_URIS["ecdsa-sha256"]]
    )
    assert params["SigAlg"] == SIG_ALG_URIS["ecdsa-sha256"]


def test_bad_logout_requests_get_es_errors(tmp_path, upstream):
    config, _, _ = saml_config(tmp_path, upstream)
    with running_gateway(config) as gw:
        status, _, body = request(gw.port, "POST", "/_security/saml/logout", JSON, b"{oops")
        assert status == 400 and json.loads(body)["status"] == 400
        status, _, body = request(gw.port, "POST", "/_security/saml/logout", JSON, b'{"token": ""}')
        assert status == 400
        big = json.dumps({"token": "x" * 70000}).encode()
        assert request(gw.port, "POST", "/_security/saml/logout", JSON, big)[0] == 413
        gz = {**JSON, "Content-Encoding": "gzip"}
        assert request(gw.port, "POST", "/_security/saml/logout", gz, b"\x1f\x8b\x08")[0] == 415
        status, answer = saml_logout(gw.port, token="never-issued")
        assert (status, answer) == (200, {"id": None, "redirect": None})
        assert use(gw.port, "never-issued")[0] == 401
