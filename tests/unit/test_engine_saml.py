"""The Elasticsearch side of the core: token learning, saml_logout, JWTs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gwtest import Clock, audit_records, make_gateway, req
from samltest import saml_response_b64

from gateway.http import Forward, Respond, Response
from gateway.jwt_tokens import JWTVerifier
from gateway.saml.keys import generate_sp_keypair
from gateway.saml.redirect_binding import inflate_b64

IDP_SLO = "https://idp.example.com/idp/slo"


def run(coro):
    return asyncio.run(coro)


def body(answer: Respond):
    return json.loads(answer.body)


@pytest.fixture
def keys(tmp_path):
    return generate_sp_keypair(tmp_path / "keys")


def saml_gateway(tmp_path, keys, mode="short_circuit", clock=None, **overrides):
    key, cert = keys
    gw = make_gateway(
        tmp_path,
        clock=clock,
        routes={"saml_logout": {"mode": mode}},
        saml={
            "sp_entity_id": "http://127.0.0.1:8080/",
            "idp_entity_id": "https://idp.example.com/idp",
            "idp_slo_url": IDP_SLO,
            "sp_key_file": str(key),
            "sp_cert_file": str(cert),
        },
        **overrides,
    )
    return gw


def authenticate(gw, access="acc-1", refresh="ref-1", name_id="alice", session_index="_s1"):
    content = saml_response_b64(name_id, session_index)
    request = req(
        "POST",
        "/_security/saml/authenticate",
        {"Content-Type": "application/json", "Accept-Encoding": "gzip"},
        json.dumps({"content": content, "ids": ["_x"], "realm": "saml1"}).encode(),
    )
    decision = run(gw.handle_request(request))
    assert isinstance(decision, Forward) and "accept-encoding" in decision.drop_headers
    answer = {
        "access_token": access,
        "refresh_token": refresh,
        "username": name_id,
        "realm": "saml1",
        "expires_in": 1200,
    }
    run(
        gw.handle_response(
            request,
            Response(200, (("content-type", "application/json"),), json.dumps(answer).encode()),
        )
    )


def refresh(gw, old_refresh, new_access, new_refresh):
    request = req(
        "POST",
        "/_security/oauth2/token",
        {"Content-Type": "application/json"},
        json.dumps({"grant_type": "refresh_token", "refresh_token": old_refresh}).encode(),
    )
    decision = run(gw.handle_request(request))
    if isinstance(decision, Respond):
        return decision
    answer = {
        "access_token": new_access,
        "refresh_token": new_refresh,
        "type": "Bearer",
        "expires_in": 1200,
    }
    run(gw.handle_response(request, Response(200, (), json.dumps(answer).encode())))
    return decision


def logout(gw, payload):
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return run(
        gw.handle_request(
            req("POST", "/_security/saml/logout", {"Content-Type": "application/json"}, data)
        )
    )


def bearer(gw, token):
    return run(
        gw.handle_request(
            req("GET", "/_security/_authenticate", {"Authorization": f"Bearer {token}"})
        )
    )


def test_logout_builds_signed_redirect_with_learned_identity(tmp_path, keys):
    gw = saml_gateway(tmp_path, keys)
    authenticate(gw)
    assert bearer(gw, "acc-1") == Forward()
    answer = logout(gw, {"token": "acc-1"})
    assert answer.status == 200
    payload = body(answer)
    assert payload["id"].startswith("_") and len(payload["id"]) >= 33
    url = payload["redirect"]
    assert url.startswith(IDP_SLO + "?SAMLRequest=")
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert set(params) == {"SAMLRequest", "SigAlg", "Signature"}
    xml = inflate_b64(params["SAMLRequest"]).decode()
    assert ">alice</" in xml and "_s1" in xml and payload["id"] in xml
    # both tokens of the pair are now refused, the refresh token too
    refused = bearer(gw, "acc-1")
    assert refused.status == 401
    assert ("www-authenticate", 'Bearer error="invalid_token"') in refused.headers
    assert refresh(gw, "ref-1", "x", "y").status == 401
    rec = next(r for r in audit_records(tmp_path / "audit.jsonl") if r["event"] == "logout")
    assert (rec["route"], rec["user"], rec["outcome"], rec["status"]) == (
        "saml_logout",
        "alice",
        "success",
        200,
    )
    assert len(rec["credentials"]) == 2
    assert run(gw.store.logout_request(payload["id"], gw.clock())) is not None


def test_refreshed_pair_inherits_identity_and_lineage(tmp_path, keys):
    gw = saml_gateway(tmp_path, keys)
    authenticate(gw)
    assert isinstance(refresh(gw, "ref-1", "acc-2", "ref-2"), Forward)
    answer = logout(gw, {"token": "acc-2"})
    assert body(answer)["redirect"] is not None
    for token in ("acc-1", "acc-2"):
        assert bearer(gw, token).status == 401, token
    for token in ("ref-1", "ref-2"):
        assert refresh(gw, token, "n", "m").status == 401, token


def test_unknown_token_is_deny_listed_with_null_answer(tmp_path, keys):
    gw = saml_gateway(tmp_path, keys)
    answer = logout(gw, {"token": "never-seen"})
    assert body(answer) == {"id": None, "redirect": None}
    assert bearer(gw, "never-seen").status == 401
    rec = audit_records(tmp_path / "audit.jsonl")[0]
    assert rec["outcome"] == "unknown_token"


def test_logout_is_idempotent(tmp_path, keys):
    gw = saml_gateway(tmp_path, keys)
    authenticate(gw)
    logout(gw, {"token": "acc-1"})
    again = logout(gw, {"token": "acc-1"})
    assert again.status == 200 and body(again) == {"id": None, "redirect": None}


def test_tokens_of_two_sessions_are_refused_and_nothing_revoked(tmp_path, keys):
    gw = saml_gateway(tmp_path, keys)
    authenticate(gw, "acc-a", "ref-a", session_index="_a")
    authenticate(gw, "acc-b", "ref-b", session_index="_b")
    answer = logout(gw, {"token": "acc-a", "refresh_token": "ref-b"})
    assert answer.status == 400 and body(answer)["status"] == 400
    assert bearer(gw, "acc-a") == Forward() and bearer(gw, "acc-b") == Forward()


def test_encrypted_assertion_gives_null_redirect_but_revokes(tmp_path, keys):
    gw = saml_gateway(tmp_path, keys)
    # a login whose SAML Response we cannot read still yields a revocable pair
    request = req(
        "POST", "/_security/saml/authenticate", {}, json.dumps({"content": "bm90IHhtbA=="}).encode()
    )
    run(gw.handle_request(request))
    answer = {
        "access_token": "enc-acc",
        "refresh_token": "enc-ref",
        "username": "bob",
        "realm": "saml1",
    }
    run(gw.handle_response(request, Response(200, (), json.dumps(answer).encode())))
    result = logout(gw, {"token": "enc-acc"})
    assert body(result) == {"id": None, "redirect": None}
    assert refresh(gw, "enc-ref", "x", "y").status == 401


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (b"{not json", 400),
        (b"[]", 400),
        ({}, 400),
        ({"token": ""}, 400),
        ({"token": 5}, 400),
        ({"token": "a", "refresh_token": ["x"]}, 400),
        ({"token": "a", "extra": 1}, 400),
        (b'{"token": "a", "token": "b"}', 400),
        (b"", 400),
    ],
)
def test_bad_logout_bodies_get_es_400_and_revoke_nothing(tmp_path, keys, payload, status):
    gw = saml_gateway(tmp_path, keys)
    answer = logout(gw, payload)
    assert answer.status == status
    err = body(answer)
    assert err["status"] == status and {"type", "reason"} <= set(err["error"])
    assert bearer(gw, "a") == Forward()


def test_oversized_and_encoded_bodies(tmp_path, keys):
    gw = saml_gateway(tmp_path, keys, limits={"max_body_bytes": 100})
    big = json.dumps({"token": "a" * 200}).encode()
    assert logout(gw, big).status == 413
    enc = run(
        gw.handle_request(
            req("POST", "/_security/saml/logout", {"Content-Encoding": "gzip"}, b"\x1f\x8b...")
        )
    )
    assert enc.status == 415
    # the token endpoint too: a revoked refresh token cannot hide in a big or encoded body
    assert (
        run(gw.handle_request(req("POST", "/_security/oauth2/token", {}, b"x" * 200))).status == 413
    )
    assert (
        run(
            gw.handle_request(
                req("POST", "/_security/oauth2/token", {"Content-Encoding": "br"}, b"x")
            )
        ).status
        == 415
    )


def test_duplicate_refresh_tokens_are_all_checked(tmp_path, keys):
    gw = saml_gateway(tmp_path, keys)
    authenticate(gw)
    logout(gw, {"token": "acc-1"})
    sneaky = b'{"grant_type": "refresh_token", "refresh_token": "fresh", "refresh_token": "ref-1"}'
    answer = run(
        gw.handle_request(
            req("POST", "/_security/oauth2/token", {"Content-Type": "application/json"}, sneaky)
        )
    )
    assert answer.status == 401


def test_forward_mode_revokes_then_forwards(tmp_path, keys):
    gw = saml_gateway(tmp_path, keys, mode="forward")
    authenticate(gw)
    decision = logout(gw, {"token": "acc-1"})
    assert decision == Forward(route="saml_logout")
    assert bearer(gw, "acc-1").status == 401
    rec = next(r for r in audit_records(tmp_path / "audit.jsonl") if r["event"] == "logout")
    assert (rec["status"], rec["forwarded"]) == (None, True)


def test_learning_body_over_limit_learns_nothing(tmp_path, keys):
    gw = saml_gateway(tmp_path, keys, limits={"max_body_bytes": 300})
    authenticate(gw)  # the SAML Response body is larger than 300 bytes
    assert gw.store._tokens == {}  # type: ignore[attr-defined]


# -- JWTs -------------------------------------------------------------------


@pytest.fixture
def rsa_keys(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = tmp_path / "jwt-pub.pem"
    pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key, other, pub


def jwt_gateway(tmp_path, pub, clock):
    gw = make_gateway(
        tmp_path,
        clock=clock,
        tokens={
            "jwt": {
                "algorithms": ["RS256"],
                "key_files": [str(pub)],
                "issuer": "https://iss",
                "audience": "es",
            }
        },
    )
    gw.jwt_verifier = JWTVerifier.from_config(
        gw.config.tokens.jwt, leeway=gw.config.saml.clock_skew
    )
    return gw


def mint(key, clock, **claims):
    base = {
        "iss": "https://iss",
        "aud": "es",
        "sub": "alice",
        "jti": "j-1",
        "iat": int(clock.now),
        "exp": int(clock.now) + 600,
    }
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, key, algorithm="RS256")


def test_jwt_cases(tmp_path, rsa_keys):
    key, other, pub = rsa_keys
    clock = Clock(time.time())
    gw = jwt_gateway(tmp_path, pub, clock)
    assert bearer(gw, mint(key, clock)) == Forward()
    for bad in (
        mint(other, clock),
        mint(key, clock, exp=int(clock.now) - 3600),
        mint(key, clock, aud="other"),
        mint(key, clock, iss="https://evil"),
    ):
        answer = bearer(gw, bad)
        assert answer.status == 401 and body(answer) == {"error": "invalid_token"}
    none_token = jwt.encode({"iss": "https://iss", "aud": "es"}, None, algorithm="none")
    assert bearer(gw, none_token).status == 401
    pub_pem = pub.read_bytes()
    # HS256 with the RSA public key as the HMAC secret, forged by hand (PyJWT refuses PEM secrets).

    def b64u(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    head = b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64u(
        json.dumps({"iss": "https://iss", "aud": "es", "exp": int(clock.now) + 600}).encode()
    )
    sig = b64u(hmac.new(pub_pem, f"{head}.{claims}".encode(), hashlib.sha256).digest())
    assert bearer(gw, f"{head}.{claims}.{sig}").status == 401


def test_revoked_jwt_and_its_reencoded_copy_are_refused(tmp_path, rsa_keys):
    key, _, pub = rsa_keys
    clock = Clock(time.time())
    gw = jwt_gateway(tmp_path, pub, clock)
    token = mint(key, clock)
    run(gw.handle_request(req("POST", "/cas/logout", {"Authorization": f"Bearer {token}"})))
    assert bearer(gw, token).status == 401
    # same (iss, jti), different encoding (claim order/extra claim) → still refused
    copy = mint(key, clock, sub="alice ", extra="x")
    assert copy != token
    assert bearer(gw, copy).status == 401
    # another jti passes
    assert bearer(gw, mint(key, clock, jti="j-2")) == Forward()
    # the revocation lives until the token's own exp (+ skew)
    rev_exp = max(exp for exp in gw.store._revoked.values())  # type: ignore[attr-defined]
    assert rev_exp <= clock.now + 600 + gw.config.saml.clock_skew + 1


@pytest.mark.parametrize(
    ("headers", "payload", "status"),
    [
        ({"Content-Encoding": "gzip"}, b"\x1f\x8b\x08\x00", 415),
        ({}, json.dumps({"token": "a" * 200}).encode(), 413),
    ],
)
def test_item4_413_and_415_on_saml_logout_are_audited(tmp_path, keys, headers, payload, status):
    """Issue 11, item 4: every answer on a logout route is audited."""
    gw = saml_gateway(tmp_path, keys, limits={"max_body_bytes": 100})
    answer = run(gw.handle_request(req("POST", "/_security/saml/logout", headers, payload)))
    assert answer.status == status
    recs = audit_records(tmp_path / "audit.jsonl")
    assert [(r["event"], r["route"], r["status"], r["outcome"]) for r in recs] == [
        ("invalid_request", "saml_logout", status, "rejected")
    ]


def test_item6_unknown_access_and_unknown_refresh_token_are_both_deny_listed(tmp_path, keys):
    """Issue 11, item 6: no test failed if the unknown refresh token was dropped."""
    gw = saml_gateway(tmp_path, keys)
    answer = logout(gw, {"token": "never-seen-acc", "refresh_token": "never-seen-ref"})
    assert body(answer) == {"id": None, "redirect": None}
    assert bearer(gw, "never-seen-acc").status == 401
    assert refresh(gw, "never-seen-ref", "n", "m").status == 401
    rec = audit_records(tmp_path / "audit.jsonl")[0]
    assert rec["outcome"] == "unknown_token" and len(rec["credentials"]) == 2


def test_learned_pairs_are_indexed_by_user_and_realm(tmp_path, keys):
    """What revoke-by-user (admin, token API, OIDC) will look up on any replica."""
    from gateway.credentials import TOKEN
    from gateway.principals import realm_key, realm_user_key, user_key

    gw = saml_gateway(tmp_path, keys)
    authenticate(gw, "acc-1", "ref-1", name_id="alice")
    refresh(gw, "ref-1", "acc-2", "ref-2")  # the new pair inherits the user and realm
    authenticate(gw, "acc-9", "ref-9", name_id="bob")
    now = gw.clock()
    fp = gw.fingerprint

    def listed(key):
        return {e.fingerprint for e in run(gw.store.indexed_credentials(key, now))}

    alice = {fp(TOKEN, t) for t in ("acc-1", "ref-1", "acc-2", "ref-2")}
    assert listed(user_key(fp, "alice")) == alice
    assert listed(realm_user_key(fp, "saml1", "alice")) == alice
    assert listed(realm_key(fp, "saml1")) == alice | {fp(TOKEN, "acc-9"), fp(TOKEN, "ref-9")}
    assert listed(user_key(fp, "nobody")) == set()


def test_forward_mode_refuses_a_revoked_caller_credential_it_does_not_log_out(tmp_path, keys):
    """A revoked bearer in the caller's own headers never rides a forwarded
    saml_logout to the upstream; the token being logged out itself is fine."""
    gw = saml_gateway(tmp_path, keys, mode="forward")
    authenticate(gw, "acc-1", "ref-1", name_id="alice")
    authenticate(gw, "acc-2", "ref-2", name_id="bob")
    assert logout(gw, {"token": "acc-1"}) == Forward(route="saml_logout")
    body = json.dumps({"token": "acc-2"}).encode()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer acc-1"}
    answer = run(gw.handle_request(req("POST", "/_security/saml/logout", headers, body)))
    assert isinstance(answer, Respond) and answer.status == 401
    assert isinstance(bearer(gw, "acc-2"), Forward)  # nothing logged out by the refused call
    # logging out the very token the caller carries is still a logout
    headers["Authorization"] = "Bearer acc-2"
    answer = run(gw.handle_request(req("POST", "/_security/saml/logout", headers, body)))
    assert answer == Forward(route="saml_logout")
