"""The test plays the OpenID Provider: its own signing keys (generated per test,
never committed), the JWKS file the gateway is configured with, and logout tokens
signed with PyJWT (OpenID Connect Back-Channel Logout 1.0)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://op.example.com/realms/cluster"
CLIENT_ID = "elasticsearch-rp"
EVENT = "http://schemas.openid.net/event/backchannel-logout"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class OP:
    """An RSA (RS256) and an EC P-256 (ES256) signing key, published as a JWKS."""

    def __init__(self, issuer: str = ISSUER, client_id: str = CLIENT_ID) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.kids = {"RS256": "rsa-1", "ES256": "ec-1"}

    def jwks(self) -> dict[str, Any]:
        rsa_jwk = json.loads(RSAAlgorithm.to_jwk(self.rsa.public_key()))
        ec_jwk = json.loads(ECAlgorithm.to_jwk(self.ec.public_key()))
        rsa_jwk.update(kid=self.kids["RS256"], use="sig", alg="RS256")
        ec_jwk.update(kid=self.kids["ES256"], use="sig", alg="ES256")
        return {"keys": [rsa_jwk, ec_jwk]}

    def write_jwks(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "op-jwks.json"
        path.write_text(json.dumps(self.jwks()))
        return path

    def rsa_public_pem(self) -> bytes:
        return self.rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def claims(self, *, sub: str | None = None, sid: str | None = None, **extra: Any) -> dict:
        now = int(extra.pop("now", time.time()))
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 120,
            "jti": secrets.token_hex(16),
            "events": {EVENT: {}},
        }
        if sub is not None:
            claims["sub"] = sub
        if sid is not None:
            claims["sid"] = sid
        claims.update(extra)
        return {k: v for k, v in claims.items() if v is not DROP}

    def sign(self, claims: dict, alg: str = "RS256", **header: Any) -> str:
        key = self.rsa if alg.startswith(("RS", "PS")) else self.ec
        headers = {"kid": self.kids.get(alg, "rsa-1"), "typ": "logout+jwt", **header}
        headers = {k: v for k, v in headers.items() if v is not DROP}
        return jwt.encode(claims, key, algorithm=alg, headers=headers)

    def logout_token(self, alg: str = "RS256", **claims: Any) -> str:
        return self.sign(self.claims(**claims), alg)


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


DROP: Any = _Drop()  # a claim or header value meaning "leave it out"


def unsigned_token(claims: dict) -> str:
    """`alg: none`, empty signature."""
    header = b64url(json.dumps({"alg": "none", "typ": "logout+jwt"}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}."


def hs256_with_public_key(claims: dict, public_pem: bytes, kid: str = "rsa-1") -> str:
    """The classic confusion: HS256 keyed with the RSA public key's PEM bytes (PyJWT
    refuses to make one, so it is made by hand)."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "logout+jwt", "kid": kid}).encode())
    payload = b64url(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def form(token: str) -> bytes:
    from urllib.parse import urlencode

    return urlencode({"logout_token": token}).encode()


FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


def oidc_config(jwks: Path, **extra: Any) -> dict[str, Any]:
    return {"issuer": ISSUER, "client_id": CLIENT_ID, "jwks_file": str(jwks), **extra}


def authenticate_answer(
    access: str,
    refresh: str,
    username: str,
    *,
    sub: str | None = None,
    sid: str | None = None,
    issuer: str | None = ISSUER,
    realm: str = "oidc1",
) -> dict[str, Any]:
    """What an Elasticsearch OIDC realm answers to POST /_security/oidc/authenticate."""
    metadata: dict[str, Any] = {}
    if issuer is not None:
        metadata["oidc(iss)"] = issuer
    if sub is not None:
        metadata["oidc(sub)"] = sub
    if sid is not None:
        metadata["oidc(sid)"] = sid
    return {
        "username": username,
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": 1200,
        "type": "Bearer",
        "authentication": {
            "username": username,
            "roles": [],
            "metadata": metadata,
            "authentication_realm": {"name": realm, "type": "oidc"},
            "lookup_realm": {"name": realm, "type": "oidc"},
            "authentication_type": "realm",
        },
    }
