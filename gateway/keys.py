"""The keys a configured gateway signs and verifies with: the SAML SP signing
key, the JWT verification keys and the IdP's certificates. Loaded once at start
(and by `gateway check` and `gateway replay`), so a bad key file is a start-up
error."""

from __future__ import annotations

from cryptography import x509

from gateway.config import Config
from gateway.jwt_tokens import JWTKeyError, JWTVerifier
from gateway.saml.idp_keys import load_idp_certificates
from gateway.saml.redirect_binding import Signer


def load_protocol_keys(config: Config) -> tuple[Signer | None, JWTVerifier | None]:
    """The SP signing key and the JWT verification keys; ValueError names the key."""
    signer = None
    saml = config.saml
    signs = config.routes.saml_logout is not None or config.routes.saml_invalidate is not None
    if signs and saml.sign and saml.sp_key_file is not None:
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


def load_idp_keys(config: Config) -> tuple[x509.Certificate, ...]:
    """The IdP's signing certificates, while a route that verifies IdP messages
    is enabled (SPEC §10.2, §10.3); ValueError names the key."""
    routes, path = config.routes, config.saml.idp_cert_file
    if path is None or (routes.saml_invalidate is None and routes.saml_complete is None):
        return ()
    try:
        return load_idp_certificates(path)
    except ValueError as exc:
        raise ValueError(f"saml.idp_cert_file: {exc}") from exc
