"""SAML HTTP-Redirect binding (SAML Bindings §3.4.4): DEFLATE + base64 +
URL-encoding, and the query-string signature over `SAMLRequest=…&RelayState=…&SigAlg=…`.

Outgoing values are encoded with `quote_plus(value, safe="")`, byte for byte what
Python's `urlencode` produces: pysaml2 rebuilds the signed string that way when
it verifies. Incoming signatures are verified over the raw query as received,
never re-encoded (encoders differ in case and in which characters they escape).
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Collection
from pathlib import Path
from typing import TypeAlias
from urllib.parse import quote_plus, unquote_plus, unquote_to_bytes

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

_XMLDSIG_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
SIG_ALG_URIS: dict[str, str] = {
    "rsa-sha256": _XMLDSIG_MORE + "rsa-sha256",
    "rsa-sha512": _XMLDSIG_MORE + "rsa-sha512",
    "ecdsa-sha256": _XMLDSIG_MORE + "ecdsa-sha256",
}
_ALG_BY_URI = {uri: name for name, uri in SIG_ALG_URIS.items()}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "rsa-sha256": hashes.SHA256,
    "rsa-sha512": hashes.SHA512,
    "ecdsa-sha256": hashes.SHA256,
}
MIN_RSA_BITS = 2048
MAX_RELAY_STATE_BYTES = 80  # SAML Bindings §3.4.3
MESSAGE_PARAMS = ("SAMLRequest", "SAMLResponse")
_P256_RAW_SIG_BYTES = 64

VerifyKey: TypeAlias = PublicKeyTypes | x509.Certificate


class SignatureError(ValueError):
    pass


class Signer:
    """An SP signing key with the one algorithm it signs with."""

    def __init__(self, private_key: PrivateKeyTypes, sig_alg: str) -> None:
        if sig_alg not in SIG_ALG_URIS:
            raise ValueError(f"sig_alg {sig_alg!r}: expected one of {', '.join(SIG_ALG_URIS)}")
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
        if sig_alg.startswith("rsa-"):
            if not isinstance(private_key, rsa.RSAPrivateKey):
                raise ValueError(f"sig_alg {sig_alg} needs an RSA private key")
            if private_key.key_size < MIN_RSA_BITS:
                raise ValueError(
                    f"RSA key of {private_key.key_size} bits refused (minimum {MIN_RSA_BITS})"
                )
            key = private_key
        elif isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(
            private_key.curve, ec.SECP256R1
        ):
            key = private_key
        else:
            raise ValueError(f"sig_alg {sig_alg} needs an EC private key on P-256")
        self._key = key
        self.sig_alg = sig_alg
        self.sig_alg_uri = SIG_ALG_URIS[sig_alg]

    @classmethod
    def from_pem_file(cls, path: Path, sig_alg: str) -> Signer:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise ValueError(f"{path}: cannot read SP key: {e.strerror or e}") from e
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (
            TypeError
        ) as e:  # cryptography: "Password was not given but private key is encrypted"
            raise ValueError(
                f"{path}: SP key is encrypted; an unencrypted PEM key is needed"
            ) from e
        except (ValueError, UnsupportedAlgorithm) as e:
            raise ValueError(f"{path}: not a PEM private key (PKCS#8 or traditional)") from e
        try:
            return cls(key, sig_alg)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from e

    def sign(self, data: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5, or ECDSA with a DER-encoded signature (as OpenSSL
        and Java's JCA produce, SPEC §6.3)."""
        digest = _HASHES[self.sig_alg]()
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), digest)
        return self._key.sign(data, ec.ECDSA(digest))


def deflate_b64(xml: bytes) -> str:
    """Raw DEFLATE (RFC 1951, no zlib header: SAML Bindings §3.4.4.1) then base64."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(compressor.compress(xml) + compressor.flush()).decode("ascii")


def inflate_b64(value: str, *, max_bytes: int = 64 * 1024, wbits: int = -15) -> bytes:
    """Inverse of deflate_b64, refusing more than max_bytes of output (deflate bombs).
    `wbits` 15: a zlib-wrapped stream (what Java's `new Deflater()` writes, e.g.
    Apereo CAS front-channel logout messages)."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError("SAML message is not base64") from e
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(raw, max_bytes + 1)
        if len(out) > max_bytes or inflater.unconsumed_tail:
            raise ValueError(f"SAML message inflates to more than {max_bytes} bytes")
        if not inflater.eof:
            # All input consumed without a final block. The output was not capped,
            # so zlib holds nothing more: flush() only closes the stream.
            out += inflater.flush()
            if len(out) > max_bytes:
                raise ValueError(f"SAML message inflates to more than {max_bytes} bytes")
    except zlib.error as e:
        raise ValueError("SAML message is not raw DEFLATE data") from e
    if inflater.unused_data:
        raise ValueError("data after the end of the DEFLATE stream")
    return out


def redirect_url(
    endpoint: str,
    xml: bytes,
    *,
    param: str = "SAMLRequest",
    relay_state: str | bytes | None = None,
    signer: Signer | None = None,
) -> str:
    """The endpoint URL carrying the message in its query (SAML Bindings §3.4.4.1).

    `relay_state` as bytes: the RelayState of a request being answered, echoed
    exactly (SAML Bindings §3.4.3: the responder MUST return the exact data it
    received), so the 80-byte limit for our own RelayState does not apply."""
    if param not in MESSAGE_PARAMS:
        raise ValueError(f"param must be one of {MESSAGE_PARAMS}")
    if "#" in endpoint:
        raise ValueError("endpoint URL must not have a fragment")
    parts = [f"{param}={_enc(deflate_b64(xml))}"]
    if isinstance(relay_state, bytes):
        parts.append(f"RelayState={quote_plus(relay_state, safe='')}")
    elif relay_state is not None:
        if len(relay_state.encode("utf-8")) > MAX_RELAY_STATE_BYTES:
            raise ValueError(f"RelayState longer than {MAX_RELAY_STATE_BYTES} bytes")
        parts.append(f"RelayState={_enc(relay_state)}")
    if signer is not None:
        parts.append(f"SigAlg={_enc(signer.sig_alg_uri)}")
        # The signed octets are exactly the query as it appears in the URL,
        # in this order, RelayState omitted when absent (SAML Bindings §3.4.4.1).
        signed = "&".join(parts).encode("ascii")
        signature = base64.b64encode(signer.sign(signed)).decode("ascii")
        parts.append(f"Signature={_enc(signature)}")
    query = "&".join(parts)
    if "?" not in endpoint:
        return f"{endpoint}?{query}"
    if endpoint.endswith(("?", "&")):
        return endpoint + query
    return f"{endpoint}&{query}"


def verify_redirect_query(
    raw_query: str, public_key_or_cert: VerifyKey, *, allowed_alg_uris: Collection[str]
) -> dict[str, str]:
    """Check the signature of a Redirect-binding query as received.

    Returns the URL-decoded SAMLRequest/SAMLResponse, RelayState, SigAlg and
    Signature parameters. Raises SignatureError on anything but a valid
    signature by this key with an allowed (never SHA-1) algorithm.
    """
    if not raw_query.isascii():
        raise SignatureError("query string is not ASCII")
    raw: dict[str, str] = {}
    for item in raw_query.split("&"):
        if not item:
            continue
        name = unquote_plus(item.partition("=")[0])
        if name not in (*MESSAGE_PARAMS, "RelayState", "SigAlg", "Signature"):
            continue
        if name in raw:
            raise SignatureError(f"duplicate {name} parameter")
        raw[name] = item
    messages = [p for p in MESSAGE_PARAMS if p in raw]
    if len(messages) != 1:
        raise SignatureError("expected exactly one of SAMLRequest, SAMLResponse")
    if "SigAlg" not in raw or "Signature" not in raw:
        raise SignatureError("message is not signed (SigAlg/Signature missing)")
    params = {name: unquote_plus(item.partition("=")[2]) for name, item in raw.items()}

    alg = _ALG_BY_URI.get(params["SigAlg"])
    if alg is None or params["SigAlg"] not in allowed_alg_uris:
        raise SignatureError(f"signature algorithm not allowed: {params['SigAlg']}")
    try:
        signature = base64.b64decode(params["Signature"], validate=True)
    except (binascii.Error, ValueError) as e:
        raise SignatureError("Signature is not base64") from e
    # The raw octets as received, in the order SAML Bindings §3.4.4.1 fixes.
    order = (messages[0], "RelayState", "SigAlg")
    signed = "&".join(raw[name] for name in order if name in raw).encode("ascii")

    key = (
        public_key_or_cert.public_key()
        if isinstance(public_key_or_cert, x509.Certificate)
        else public_key_or_cert
    )
    if not _verify(key, alg, signature, signed):
        raise SignatureError("signature does not verify")
    return params


def query_param_bytes(raw_query: str, name: str) -> bytes | None:
    """The first `name` parameter of a raw query, form-decoded to bytes (not text:
    a RelayState to echo must come back byte for byte, whatever its encoding)."""
    for item in raw_query.split("&"):
        key, sep, value = item.partition("=")
        if sep and unquote_plus(key) == name:
            return unquote_to_bytes(value.replace("+", " "))
    return None


_BASE64_ONLY = re.compile(r"[A-Za-z0-9+/=]*")


def _enc(value: str) -> str:
    # Same octets as quote_plus(value, safe="") (what pysaml2 rebuilds to
    # verify), 20x faster for the long base64 values of a Redirect binding.
    if _BASE64_ONLY.fullmatch(value):
        return value.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    return quote_plus(value, safe="")


def _verify(key: PublicKeyTypes, alg: str, signature: bytes, signed: bytes) -> bool:
    digest = _HASHES[alg]()
    if alg.startswith("rsa-"):
        if not isinstance(key, rsa.RSAPublicKey):
            raise SignatureError(f"{alg} signature but the key is not RSA")
        try:
            key.verify(signature, signed, padding.PKCS1v15(), digest)
        except InvalidSignature:
            return False
        return True
    if not (isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)):
        raise SignatureError(f"{alg} signature but the key is not EC P-256")
    for candidate in _ecdsa_der_candidates(signature):
        try:
            key.verify(candidate, signed, ec.ECDSA(digest))
        except InvalidSignature:
            continue
        return True
    return False


def _ecdsa_der_candidates(signature: bytes) -> list[bytes]:
    """DER as sent, and raw r‖s (XML-DSig style, 2 x 32 bytes for P-256) turned into DER."""
    candidates = []
    try:
        decode_dss_signature(signature)
    except ValueError:
        pass
    else:
        candidates.append(signature)
    if len(signature) == _P256_RAW_SIG_BYTES:
        half = _P256_RAW_SIG_BYTES // 2
        r = int.from_bytes(signature[:half], "big")
        s = int.from_bytes(signature[half:], "big")
        candidates.append(encode_dss_signature(r, s))
    return candidates
