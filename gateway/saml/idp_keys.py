"""The IdP's signing certificates (`saml.idp_cert_file`) and verification of
its Redirect-binding messages with them.

The keys are pinned by config, never taken from the message (REFERENCE "SAML
HTTP-Redirect binding"). The file may hold several certificates (an IdP rolling
its key over publishes both for a while); a message verifies if one of them
signed it. Validity dates are not checked: IdP metadata certificates are
key carriers, often self-signed and long expired (Elasticsearch, Shibboleth and
pysaml2 ignore their dates as well).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.saml.redirect_binding import (
    MIN_RSA_BITS,
    SIG_ALG_URIS,
    SignatureError,
    verify_redirect_query,
)

# Every algorithm the gateway verifies: never SHA-1 (REFERENCE).
INCOMING_ALG_URIS = frozenset(SIG_ALG_URIS.values())


def load_idp_certificates(path: Path) -> tuple[x509.Certificate, ...]:
    """Every PEM certificate in the file; ValueError says what is wrong."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        certificates = tuple(x509.load_pem_x509_certificates(data))
    except ValueError as exc:
        raise ValueError(f"{path}: not a PEM certificate (BEGIN CERTIFICATE)") from exc
    for cert in certificates:
        key = cert.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            if key.key_size < MIN_RSA_BITS:
                raise ValueError(
                    f"{path}: RSA key of {key.key_size} bits refused (minimum {MIN_RSA_BITS})"
                )
        elif not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise ValueError(f"{path}: only RSA and EC P-256 keys can verify SAML messages")
    return certificates


def verify_redirect(raw_query: str, certificates: Sequence[x509.Certificate]) -> dict[str, str]:
    """`verify_redirect_query` with the first certificate that verifies; raises
    SignatureError when none does (or the message is unsigned or malformed)."""
    error = SignatureError("no IdP certificate configured")
    for cert in certificates:
        try:
            return verify_redirect_query(raw_query, cert, allowed_alg_uris=INCOMING_ALG_URIS)
        except SignatureError as exc:
            error = exc
    raise error
