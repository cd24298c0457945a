"""Loading JWT verification keys from files: PEM public keys, PEM certificates and JWKS
(or single JWK) JSON files.

Every key is bound at load time to the algorithms that fit its type (RSA: RS*/PS*; EC:
the one ES* of its curve; Ed25519/Ed448: EdDSA), narrowed by a JWK's ``alg``. Files
holding private key material, and symmetric (``oct``) JWKs, are refused: HMAC is never
accepted, and a private key in a verifier's config is a leak waiting to happen.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey, Ed448PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from gateway.jwt_tokens.algorithms import (
    EC_ALGORITHM_BY_CURVE,
    EDDSA,
    JWS_ALGORITHM_NAMES,
    RSA_ALGORITHMS,
)
from gateway.jwt_tokens.errors import JWTKeyError

__all__ = ["PublicKey", "VerificationKey", "load_key_file", "load_keys"]

PublicKey: TypeAlias = RSAPublicKey | ec.EllipticCurvePublicKey | Ed25519PublicKey | Ed448PublicKey
_PRIVATE_KEY_TYPES = (RSAPrivateKey, ec.EllipticCurvePrivateKey, Ed25519PrivateKey, Ed448PrivateKey)

_RSA_ALGORITHM_SET = frozenset(RSA_ALGORITHMS)
_EC_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_MIN_RSA_BITS = 2048
_MAX_KEY_FILE_BYTES = 1 << 20

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----",
    re.DOTALL,
)
_JWK_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_PRIVATE_KEY_MESSAGE = "contains a private key; give the public key or certificate"


@dataclass(frozen=True, slots=True, eq=False)
class VerificationKey:
    """A public key read from a key file, bound to the algorithms that fit it."""

    key: PublicKey
    algorithms: frozenset[str]  # fits the key type (and the JWK "alg", if any)
    kid: str | None
    file_index: int  # position in the configured list of key files (0 for a single file)
    path: Path
    where: str  # "PEM block 1", "JWK 0": locates the key inside its file
    description: str  # "RSA-2048", "EC P-256", "Ed25519"

    def __str__(self) -> str:
        kid = f" kid={self.kid!r}" if self.kid is not None else ""
        algs = ",".join(sorted(self.algorithms))
        return f"{self.path} ({self.where}): {self.description}{kid} [{algs}]"


def load_keys(
    paths: Sequence[Path], *, config_key: str = "tokens.jwt.key_files"
) -> list[VerificationKey]:
    """Every public key in the key files, in order. Raises JWTKeyError listing every
    unusable file (``<config_key>[i]: <path>: <problem>``)."""
    keys: list[VerificationKey] = []
    errors: list[str] = []
    for index, path in enumerate(paths):
        try:
            keys.extend(_file_keys(index, path))
        except ValueError as exc:
            errors.append(f"{config_key}[{index}]: {path}: {exc}")
    if errors:
        raise JWTKeyError(errors)
    return keys


def load_key_file(path: Path, *, config_key: str) -> list[VerificationKey]:
    """Every public key in one key file (a config key naming a single file, such as a
    JWKS). Raises JWTKeyError (``<config_key>: <path>: <problem>``)."""
    try:
        return _file_keys(0, path)
    except ValueError as exc:
        raise JWTKeyError(f"{config_key}: {path}: {exc}") from None


# --------------------------------------------------------------------------- one file


def _file_keys(index: int, path: Path) -> list[VerificationKey]:
    try:
        with path.open("rb") as f:
            data = f.read(_MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > _MAX_KEY_FILE_BYTES:
        raise ValueError(f"larger than {_MAX_KEY_FILE_BYTES} bytes: not a key file")
    keys: list[VerificationKey] = []
    text = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"not valid JSON: {exc}") from None
        for where, raw, kid, alg in _jwk_keys(document):
            key, description, algorithms = _classify_at(where, raw)
            if alg is not None:
                if alg not in algorithms:
                    raise ValueError(f"{where}: alg {alg!r} does not fit a {description} key")
                algorithms = frozenset({alg})
            keys.append(VerificationKey(key, algorithms, kid, index, path, where, description))
    elif b"-----BEGIN " in text:
        for where, raw in _pem_keys(text):
            key, description, algorithms = _classify_at(where, raw)
            keys.append(VerificationKey(key, algorithms, None, index, path, where, description))
    else:
        raise ValueError("not a PEM public key, PEM certificate or JWKS JSON file")
    if not keys:
        raise ValueError("holds no public signature key")
    return keys


def _pem_keys(data: bytes) -> Iterator[tuple[str, object]]:
    blocks = list(_PEM_BLOCK.finditer(data))
    if any(b"PRIVATE KEY" in block[1] for block in blocks):
        raise ValueError(_PRIVATE_KEY_MESSAGE)
    for n, block in enumerate(blocks):
        label = block[1].decode("ascii")
        where = f"PEM block {n}"
        if label in ("PUBLIC KEY", "RSA PUBLIC KEY"):
            try:
                yield where, serialization.load_pem_public_key(block[0])
            except ValueError as exc:
                raise ValueError(f"{where}: invalid {label}: {exc}") from None
        elif label == "CERTIFICATE":
            try:
                cert = x509.load_pem_x509_certificate(block[0])
                yield where, cert.public_key()
            except ValueError as exc:
                raise ValueError(f"{where}: invalid CERTIFICATE: {exc}") from None
        elif label != "EC PARAMETERS":  # openssl writes these next to EC keys; harmless
            raise ValueError(f"{where}: unsupported PEM block {label!r}")


def _jwk_keys(document: object) -> Iterator[tuple[str, object, str | None, str | None]]:
    """(where, public key, kid, alg) for every signature JWK; skips encryption keys."""
    if isinstance(document, dict) and "keys" in document:
        entries = document["keys"]
        if not isinstance(entries, list):
            raise ValueError('"keys" must be a list of JWKs')
    elif isinstance(document, dict) and "kty" in document:
        entries = [document]
    else:
        raise ValueError('not a JWKS ({"keys": [...]}) or a JWK')
    for n, jwk_data in enumerate(entries):
        where = f"JWK {n}"
        if not isinstance(jwk_data, dict):
            raise ValueError(f"{where}: not a JSON object")
        kid = jwk_data.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise ValueError(f"{where}: kid must be a string")
        if kid is not None:
            where = f"JWK {n} kid={kid!r}"
        kty = jwk_data.get("kty")
        if kty == "oct":
            raise ValueError(f'{where}: symmetric key (kty "oct") refused: HMAC is never accepted')
        if any(member in jwk_data for member in _JWK_PRIVATE_MEMBERS):
            raise ValueError(f"{where}: {_PRIVATE_KEY_MESSAGE}")
        use = jwk_data.get("use")
        key_ops = jwk_data.get("key_ops")
        alg = jwk_data.get("alg")
        if alg is not None and not isinstance(alg, str):
            raise ValueError(f"{where}: alg must be a string")
        if use not in (None, "sig"):
            continue  # an encryption key published alongside the signing keys
        if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
            continue
        if alg is not None and alg not in JWS_ALGORITHM_NAMES:
            continue  # alg names an encryption algorithm (RSA-OAEP, ECDH-ES, ...)
        if kty not in ("RSA", "EC", "OKP"):
            raise ValueError(f"{where}: unsupported kty {kty!r} (use RSA, EC or OKP)")
        key: object
        try:
            if kty == "RSA":
                key = RSAAlgorithm.from_jwk(jwk_data)
            elif kty == "EC":
                key = ECAlgorithm.from_jwk(jwk_data)
            else:
                key = OKPAlgorithm.from_jwk(jwk_data)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{where}: invalid {kty} JWK: {exc}") from None
        yield where, key, kid, alg


# --------------------------------------------------------------------------- key types


def _classify_at(where: str, raw: object) -> tuple[PublicKey, str, frozenset[str]]:
    if isinstance(raw, _PRIVATE_KEY_TYPES):  # belt and braces: loaders refuse these earlier
        raise ValueError(f"{where}: {_PRIVATE_KEY_MESSAGE}")
    try:
        return _classify(raw)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _classify(key: object) -> tuple[PublicKey, str, frozenset[str]]:
    """The key, its description and the algorithms its type fits; ValueError if unusable."""
    if isinstance(key, RSAPublicKey):
        if key.key_size < _MIN_RSA_BITS:
            raise ValueError(
                f"RSA key of {key.key_size} bits is too short (at least {_MIN_RSA_BITS})"
            )
        return key, f"RSA-{key.key_size}", _RSA_ALGORITHM_SET
    if isinstance(key, ec.EllipticCurvePublicKey):
        alg = EC_ALGORITHM_BY_CURVE.get(key.curve.name)
        if alg is None:
            raise ValueError(f"unsupported EC curve {key.curve.name} (use P-256, P-384 or P-521)")
        return key, f"EC {_EC_CURVE_NAMES[key.curve.name]}", frozenset({alg})
    if isinstance(key, Ed25519PublicKey):
        return key, "Ed25519", frozenset({EDDSA})
    if isinstance(key, Ed448PublicKey):
        return key, "Ed448", frozenset({EDDSA})
    raise ValueError(f"unsupported key type {type(key).__name__.lstrip('_')}")
