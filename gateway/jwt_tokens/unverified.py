"""Reading a bearer token as a JWT without trusting it: the shape test, and the claims
used to deny-list a token (SPEC §5). Nothing here is ever a reason to let a request in."""

from __future__ import annotations

import re

import jwt

from gateway.jwt_tokens.claims import JWTClaims, claims_from_payload

__all__ = ["looks_like_jwt", "unverified_claims"]

# JWS compact serialization: header.payload.signature, base64url. The signature may be
# empty (that is how `alg: none` tokens look: they must be classified as JWTs so that they
# are verified and refused, not forwarded as opaque tokens). Padding is tolerated for the
# same reason: PyJWT decodes padded segments.
_JWS_COMPACT = re.compile(r"[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]*={0,2}")


def looks_like_jwt(token: str) -> bool:
    """True for a JWS compact serialization shape (three base64url segments). No decoding."""
    return _JWS_COMPACT.fullmatch(token) is not None


def unverified_claims(token: str) -> JWTClaims | None:
    """iss/jti/exp/sub of a JWT read WITHOUT verifying it: for deny-listing only, never
    for trust. None if the token is not a decodable JWT. Never raises."""
    try:
        payload = jwt.decode(
            token,
            options={
                "verify_signature": False,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
            },
        )
    except Exception:  # decoding hostile input: any failure just means "not a JWT"
        return None
    if not isinstance(payload, dict):
        return None
    return claims_from_payload(payload)
