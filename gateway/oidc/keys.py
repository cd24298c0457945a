"""The OP's signing keys (``oidc.jwks_file``) as a logout-token verifier.

Loaded once at start (and by `gateway check` and `gateway replay`), so a bad file is
a start-up error naming the key. `load_key_file` refuses private keys and symmetric
(``kty: oct``) JWKs, and binds every key to the algorithms of its type (a JWK's
``alg`` narrows that), so HMAC or ``none`` can never verify a logout token.

An OP rotates its keys by publishing the new one in its JWKS ahead of use: update
the file with the OP's current JWKS and restart (or reload) the gateway.
"""

from __future__ import annotations

from gateway.config import Config
from gateway.jwt_tokens.algorithms import PUBLIC_KEY_ALGORITHMS
from gateway.jwt_tokens.errors import JWTKeyError
from gateway.jwt_tokens.keys import load_key_file
from gateway.jwt_tokens.signature import KeyRing
from gateway.oidc.logout_token import LogoutTokenVerifier

__all__ = ["load_logout_token_verifier"]


def load_logout_token_verifier(config: Config) -> LogoutTokenVerifier | None:
    """The verifier for the back-channel route, or None while it is inactive
    (``oidc.issuer``, ``client_id`` and ``jwks_file`` not all set). ValueError,
    naming ``oidc.jwks_file``, for a file that holds no usable public key."""
    oidc = config.oidc
    if oidc.jwks_file is None:
        return None
    try:
        keys = load_key_file(oidc.jwks_file, config_key="oidc.jwks_file")
    except JWTKeyError as exc:
        raise ValueError(str(exc)) from None
    ring = KeyRing.bind(keys, PUBLIC_KEY_ALGORITHMS)
    if not ring.algorithms_with_keys:  # pragma: no cover - every loaded key fits one
        raise ValueError(f"oidc.jwks_file: {oidc.jwks_file}: no key fits a signature algorithm")
    if not oidc.verifies_logout_tokens():
        return None  # checked, but the route stays inactive (the config says why)
    assert oidc.issuer is not None and oidc.client_id is not None  # what that means
    return LogoutTokenVerifier(
        ring, issuer=oidc.issuer, client_id=oidc.client_id, leeway=config.saml.clock_skew
    )
