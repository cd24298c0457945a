"""gateway.jwt_tokens.signature on its own: the signature check every JWT verifier
(bearer tokens now, OIDC logout tokens next) shares, without any claim rule."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import RSAAlgorithm

from gateway.jwt_tokens import InvalidJWT, JWTKeyError
from gateway.jwt_tokens.keys import load_key_file
from gateway.jwt_tokens.signature import KeyRing, verify_signature

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def jwks_file(tmp_path: Path) -> Path:
    path = tmp_path / "jwks.json"
    jwk = RSAAlgorithm.to_jwk(RSA_KEY.public_key(), as_dict=True)
    path.write_text(json.dumps({"keys": [{**jwk, "kid": "op-1", "use": "sig"}]}))
    return path


def reason(token: str, ring: KeyRing) -> str:
    with pytest.raises(InvalidJWT) as info:
        verify_signature(token, ring)
    return str(info.value)


def test_payload_of_a_signed_token_no_claim_checked(tmp_path: Path) -> None:
    keys = load_key_file(jwks_file(tmp_path), config_key="oidc.jwks_file")
    ring = KeyRing.bind(keys, ["RS256"])
    payload = {"iss": "https://op.example", "exp": 1, "events": {}}  # long expired: not judged
    token = jwt.encode(payload, RSA_KEY, algorithm="RS256", headers={"kid": "op-1"})
    assert verify_signature(token, ring) == payload


def test_refusals(tmp_path: Path) -> None:
    ring = KeyRing.bind(load_key_file(jwks_file(tmp_path), config_key="oidc.jwks_file"), ["RS256"])
    assert reason(jwt.encode({}, EC_KEY, algorithm="ES256"), ring) == "algorithm"
    assert reason(jwt.encode({}, RSA_KEY, algorithm="PS256"), ring) == "algorithm"
    assert reason(jwt.encode({}, b"k" * 32, algorithm="HS256"), ring) == "algorithm"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert reason(jwt.encode({}, other, algorithm="RS256"), ring) == "signature"
    assert reason("not.a.jwt", ring) == "malformed"


def test_only_public_key_algorithms_can_be_bound() -> None:
    with pytest.raises(ValueError, match="HS256"):
        KeyRing.bind([], ["RS256", "HS256"])


def test_single_key_file_errors_name_the_config_key(tmp_path: Path) -> None:
    path = tmp_path / "op.pem"
    path.write_bytes(
        RSA_KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(JWTKeyError) as info:
        load_key_file(path, config_key="oidc.jwks_file")
    assert info.value.errors == [
        f"oidc.jwks_file: {path}: contains a private key; give the public key or certificate"
    ]
