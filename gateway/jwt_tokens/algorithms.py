"""The JWT signature algorithms the gateway knows: the one registry (SPEC §4 ``tokens.jwt``).

A leaf module, free of gateway and third-party imports, so that the config validator can
use it without importing the verifier (which would make config and jwt_tokens import
each other).
"""

from __future__ import annotations

__all__ = [
    "EC_ALGORITHM_BY_CURVE",
    "EDDSA",
    "JWS_ALGORITHM_NAMES",
    "JWT_ALGORITHMS",
    "PUBLIC_KEY_ALGORITHMS",
    "RSA_ALGORITHMS",
]

#: RSA keys fit every RSA algorithm (PKCS#1 v1.5 and PSS).
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
#: An EC key fits exactly one algorithm: the one of its curve (RFC 7518 §3.4).
EC_ALGORITHM_BY_CURVE = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
#: Ed25519 and Ed448 keys (RFC 8037).
EDDSA = "EdDSA"

#: The only algorithms the gateway will ever verify with (public-key ones: never ``none``,
#: never HMAC), in the order the config's error messages list them.
JWT_ALGORITHMS: tuple[str, ...] = (*RSA_ALGORITHMS, *EC_ALGORITHM_BY_CURVE.values(), EDDSA)
PUBLIC_KEY_ALGORITHMS = frozenset(JWT_ALGORITHMS)

# Every JWS signature algorithm name (RFC 7518 and friends): a JWK "alg" outside this set
# names an encryption algorithm (RSA-OAEP, ECDH-ES, ...), i.e. a key not meant for us.
JWS_ALGORITHM_NAMES = frozenset(
    {*PUBLIC_KEY_ALGORITHMS, "HS256", "HS384", "HS512", "ES256K", "Ed25519", "Ed448", "none"},
)
