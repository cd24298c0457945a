"""JWT bearer tokens (SPEC §5): a cheap shape test, unverified claims for deny-listing,
and signature + claim verification against configured public keys.

One concern per module:

* ``algorithms`` - the one registry of accepted algorithms (a leaf: config imports it);
* ``keys`` - reading PEM / certificate / JWKS files into keys bound to algorithms;
* ``signature`` - the signature check every JWT verifier shares (``verify_signature``);
* ``verifier`` - bearer tokens: signature, time claims, issuer, audience, cache;
* ``claims`` / ``unverified`` - the claims the gateway uses, and reading them untrusted.
"""

from __future__ import annotations

from gateway.jwt_tokens.algorithms import PUBLIC_KEY_ALGORITHMS
from gateway.jwt_tokens.claims import JWTClaims
from gateway.jwt_tokens.errors import InvalidJWT, JWTKeyError
from gateway.jwt_tokens.keys import VerificationKey, load_keys
from gateway.jwt_tokens.unverified import looks_like_jwt, unverified_claims
from gateway.jwt_tokens.verifier import JWTVerifier

__all__ = [
    "PUBLIC_KEY_ALGORITHMS",
    "InvalidJWT",
    "JWTClaims",
    "JWTKeyError",
    "JWTVerifier",
    "VerificationKey",
    "load_keys",
    "looks_like_jwt",
    "unverified_claims",
]
