"""OpenID Connect Back-Channel Logout 1.0 logout tokens (gateway.oidc.logout_token):
every refusal SPEC §10.4 lists is a named test; none of them quotes the token."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from oidctest import (
    CLIENT_ID,
    DROP,
    EVENT,
    ISSUER,
    OP,
    hs256_with_public_key,
    unsigned_token,
)

from gateway.jwt_tokens.algorithms import PUBLIC_KEY_ALGORITHMS
from gateway.jwt_tokens.errors import JWTKeyError
from gateway.jwt_tokens.keys import load_key_file
from gateway.jwt_tokens.signature import KeyRing
from gateway.oidc.logout_token import InvalidLogoutToken, LogoutTokenVerifier

NOW = 1_800_000_000
SKEW = 180


@pytest.fixture(scope="module")
def op() -> OP:
    return OP()


@pytest.fixture(scope="module")
def verifier(op, tmp_path_factory) -> LogoutTokenVerifier:
    jwks = op.write_jwks(tmp_path_factory.mktemp("op"))
    keys = KeyRing.bind(load_key_file(jwks, config_key="oidc.jwks_file"), PUBLIC_KEY_ALGORITHMS)
    return LogoutTokenVerifier(keys, issuer=ISSUER, client_id=CLIENT_ID, leeway=SKEW)


def refused(verifier: LogoutTokenVerifier, token: str) -> str:
    with pytest.raises(InvalidLogoutToken) as info:
        verifier.verify(token, now=NOW)
    reason = str(info.value)
    assert token not in reason and len(reason) < 80
    for segment in token.split("."):
        assert not segment or segment not in reason
    return reason


# --------------------------------------------------------------------------- accepted


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_valid_token_for_a_sid(op, verifier, alg):
    token = op.sign(op.claims(sid="s-1", now=NOW), alg)
    got = verifier.verify(token, now=NOW)
    assert (got.issuer, got.sid, got.sub) == (ISSUER, "s-1", None)
    assert got.jti and got.remember_jti_until >= NOW + SKEW


def test_valid_token_for_a_sub_only(op, verifier):
    got = verifier.verify(op.sign(op.claims(sub="alice", now=NOW)), now=NOW)
    assert (got.sub, got.sid) == ("alice", None)


def test_aud_as_a_list_and_typ_jwt_or_absent(op, verifier):
    claims = op.claims(sid="s", aud=["other", CLIENT_ID], now=NOW)
    assert verifier.verify(op.sign(claims, typ="JWT"), now=NOW).sid == "s"
    assert verifier.verify(op.sign(claims, typ=DROP), now=NOW).sid == "s"
    assert verifier.verify(op.sign(claims, typ="application/logout+jwt"), now=NOW).sid == "s"


def test_token_without_kid_is_tried_against_the_keys_of_its_algorithm(op, verifier):
    assert verifier.verify(op.sign(op.claims(sid="s", now=NOW), kid=DROP), now=NOW).sid == "s"


def test_exp_is_optional_and_times_allow_the_skew(op, verifier):
    """The drafts before 1.0 final had no `exp`; SPEC §10.4: checked when present."""
    assert verifier.verify(op.sign(op.claims(sid="s", exp=DROP, now=NOW)), now=NOW)
    assert verifier.verify(op.sign(op.claims(sid="s", now=NOW - SKEW + 1)), now=NOW)
    assert verifier.verify(op.sign(op.claims(sid="s", now=NOW + SKEW - 1)), now=NOW)


def test_events_value_need_not_be_empty(op, verifier):
    claims = op.claims(sid="s", events={EVENT: {"x": 1}, "other": True}, now=NOW)
    assert verifier.verify(op.sign(claims), now=NOW).sid == "s"


# --------------------------------------------------------------------------- refused


def test_refused_unsigned_alg_none(op, verifier):
    assert refused(verifier, unsigned_token(op.claims(sid="s", now=NOW))) == "algorithm"


def test_refused_hs256_with_the_public_key_as_secret(op, verifier):
    token = hs256_with_public_key(op.claims(sid="s", now=NOW), op.rsa_public_pem())
    assert refused(verifier, token) == "algorithm"


def test_refused_unknown_kid(op, verifier):
    assert refused(verifier, op.sign(op.claims(sid="s", now=NOW), kid="rotated-away")) == (
        "unknown kid"
    )


def test_refused_kid_of_a_key_of_another_algorithm(op, verifier):
    token = op.sign(op.claims(sid="s", now=NOW), "ES256", kid=op.kids["RS256"])
    assert refused(verifier, token) == "unknown kid"


def test_refused_signature_by_a_key_not_in_the_jwks(op, verifier):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(op.claims(sid="s", now=NOW), stranger, "RS256", headers={"kid": "rsa-1"})
    assert refused(verifier, token) == "signature"


def test_refused_tampered_payload(op, verifier):
    header, _, signature = op.sign(op.claims(sid="s", now=NOW)).split(".")
    forged = jwt.utils.base64url_encode(json.dumps(op.claims(sid="t", now=NOW)).encode())
    assert refused(verifier, f"{header}.{forged.decode()}.{signature}") == "signature"


def test_refused_wrong_iss(op, verifier):
    token = op.sign(op.claims(sid="s", iss="https://evil.example.com", now=NOW))
    assert refused(verifier, token) == "iss is not oidc.issuer"


def test_refused_wrong_aud(op, verifier):
    for aud in ("other-client", ["a", "b"], DROP, 5):
        token = op.sign(op.claims(sid="s", aud=aud, now=NOW))
        assert refused(verifier, token) == "aud does not contain oidc.client_id"


def test_refused_expired(op, verifier):
    token = op.sign(op.claims(sid="s", exp=NOW - SKEW - 1, now=NOW))
    assert refused(verifier, token) == "expired"


def test_refused_iat_too_old(op, verifier):
    assert refused(verifier, op.sign(op.claims(sid="s", now=NOW - SKEW - 1))) == "iat too old"


def test_refused_iat_in_the_future(op, verifier):
    token = op.sign(op.claims(sid="s", now=NOW + SKEW + 1))
    assert refused(verifier, token) == "iat in the future"


def test_refused_iat_missing_or_not_a_number(op, verifier):
    assert refused(verifier, op.sign(op.claims(sid="s", iat=DROP, now=NOW))) == "iat missing"
    token = op.sign(op.claims(sid="s", iat="1800000000", now=NOW))
    assert refused(verifier, token) == "iat is not a number"


def test_refused_missing_events_member(op, verifier):
    token = op.sign(op.claims(sid="s", events={"other": {}}, now=NOW))
    assert refused(verifier, token) == "events has no back-channel logout member"
    token = op.sign(op.claims(sid="s", events=DROP, now=NOW))
    assert refused(verifier, token) == "events missing or not an object"


def test_refused_events_value_not_an_object(op, verifier):
    for value in ("", [], True, None):
        token = op.sign(op.claims(sid="s", events={EVENT: value}, now=NOW))
        assert refused(verifier, token) == "back-channel logout event value is not an object"
    token = op.sign(op.claims(sid="s", events=[EVENT], now=NOW))
    assert refused(verifier, token) == "events missing or not an object"


def test_refused_nonce_present(op, verifier):
    """An ID token (it has a nonce) can never pass as a logout token."""
    assert refused(verifier, op.sign(op.claims(sid="s", nonce="n-1", now=NOW))) == "nonce present"


def test_refused_neither_sub_nor_sid(op, verifier):
    assert refused(verifier, op.sign(op.claims(now=NOW))) == "neither sub nor sid"


def test_refused_sub_or_sid_not_a_usable_string(op, verifier):
    assert refused(verifier, op.sign(op.claims(sid=5, now=NOW))) == "sid is not a usable string"
    assert refused(verifier, op.sign(op.claims(sub="", now=NOW))) == "sub is not a usable string"


def test_refused_jti_missing(op, verifier):
    assert refused(verifier, op.sign(op.claims(sid="s", jti=DROP, now=NOW))) == "jti missing"


def test_refused_other_token_types(op, verifier):
    token = op.sign(op.claims(sid="s", now=NOW), typ="at+jwt")
    assert refused(verifier, token) == "typ is not logout+jwt"


@pytest.mark.parametrize("junk", ["", "a.b", "not a jwt", "é.é.é", "a.b.c.d", "...."])
def test_refused_malformed(verifier, junk):
    with pytest.raises(InvalidLogoutToken):
        verifier.verify(junk, now=NOW)


# --------------------------------------------------------------------------- the JWKS


def test_jwks_with_a_private_or_symmetric_key_is_refused(op, tmp_path):
    private = op.jwks()
    private["keys"][0]["d"] = "AQAB"
    (tmp_path / "private.json").write_text(json.dumps(private))
    with pytest.raises(JWTKeyError, match=r"oidc.jwks_file: .*private key"):
        load_key_file(tmp_path / "private.json", config_key="oidc.jwks_file")
    (tmp_path / "oct.json").write_text(json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}))
    with pytest.raises(JWTKeyError, match=r"oidc.jwks_file: .*HMAC is never accepted"):
        load_key_file(tmp_path / "oct.json", config_key="oidc.jwks_file")
