"""The keys a configured gateway signs and verifies with: the SAML SP signing
key and the JWT verification keys. Loaded once at start (and by `gateway
check` and `gateway replay`), so a bad key file is a start-up error."""

from __future__ import annotations

from gateway.config import Config
from gateway.jwt_tokens import JWTKeyError, JWTVerifier
from gateway.saml.redirect_binding import Signer


def load_protocol_keys(config: Config) -> tuple[Signer | None, JWTVerifier | None]:
    """The SP signing key and the JWT verification keys; ValueError names the key."""
    signer = None
    saml = config.saml
    if config.routes.saml_logout is not None and saml.sign and saml.sp_key_file is not None:
        try:
            signer = Signer.from_pem_file(saml.sp_key_file, saml.sig_alg)
        except ValueError as exc:
            raise ValueError(f"saml.sp_key_file: {exc}") from exc
    verifier = None
    if config.tokens.jwt is not None:
        try:
            verifier = JWTVerifier.from_config(config.tokens.jwt, leeway=saml.clock_skew)
        except JWTKeyError as exc:
            raise ValueError(str(exc)) from exc
    return signer, verifier
