"""Tests for gateway.jwt_tokens: key loading (PEM key, certificate, JWKS), algorithm binding,
every verification rule, the verification cache, and the unverified helpers."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from gateway.config import JWTConfig
from gateway.jwt_tokens import (
    InvalidJWT,
    JWTClaims,
    JWTKeyError,
    JWTVerifier,
    load_keys,
    looks_like_jwt,
    unverified_claims,
)
from gateway.jwt_tokens import signature as jwt_signature

NOW = 1_700_000_000.0
LEEWAY = 180
ALL_ALGS = ("RS256", "PS256", "ES256", "EdDSA")

# --------------------------------------------------------------------------- keys and files

KEYS: dict[str, Any] = {
    "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ec": ec.generate_private_key(ec.SECP256R1()),
    "ed": ed25519.Ed25519PrivateKey.generate(),
}
OTHER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ALG = {"rsa": "RS256", "ec": "ES256", "ed": "EdDSA"}


def pem_public(private: Any) -> bytes:
    public = private.public_key()
    pem: bytes = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem


def pem_private(private: Any, fmt: Any = serialization.PrivateFormat.PKCS8) -> bytes:
    pem: bytes = private.private_bytes(
        serialization.Encoding.PEM, fmt, serialization.NoEncryption()
    )
    return pem


def pem_certificate(private: Any) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.example")])
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .sign(private, None if isinstance(private, ed25519.Ed25519PrivateKey) else hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def jwk(private_or_public: Any, **extra: Any) -> dict[str, Any]:
    key = private_or_public
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        data = RSAAlgorithm.to_jwk(key, as_dict=True)
    elif isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        data = ECAlgorithm.to_jwk(key, as_dict=True)
    else:
        data = OKPAlgorithm.to_jwk(key, as_dict=True)
    return {**data, **extra}


def write(tmp_path: Path, name: str, content: bytes | str | dict[str, Any]) -> Path:
    path = tmp_path / name
    if isinstance(content, dict):
        content = json.dumps(content)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def key_file(tmp_path: Path, kind: str, form: str, private: Any = None) -> Path:
    private = private if private is not None else KEYS[kind]
    if form == "pem":
        return write(tmp_path, f"{kind}.pem", pem_public(private))
    if form == "cert":
        return write(tmp_path, f"{kind}.crt", pem_certificate(private))
    return write(tmp_path, f"{kind}.jwks", {"keys": [jwk(private.public_key(), kid=kind)]})


def verifier(
    *paths: Path,
    algorithms: tuple[str, ...] = ALL_ALGS,
    issuer: str | None = None,
    audience: tuple[str, ...] = (),
    leeway: int = LEEWAY,
) -> JWTVerifier:
    config = JWTConfig(algorithms=algorithms, key_files=paths, issuer=issuer, audience=audience)
    return JWTVerifier.from_config(config, leeway=leeway)


def mint(
    private: Any = None,
    alg: str = "RS256",
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    payload = {"iss": "https://idp.example", "sub": "alice", "jti": "j-1", "exp": NOW + 3600}
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, private or KEYS["rsa"], algorithm=alg, headers=headers)


def mint_raw(payload: Any, private: Any = None, alg: str = "RS256", **headers: Any) -> str:
    """A JWS over any JSON payload (PyJWT's encode refuses claims of the wrong type)."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return jwt.PyJWS().encode(raw, private or KEYS["rsa"], algorithm=alg, headers=headers or None)


def b64(data: bytes | dict[str, Any]) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def refused(v: JWTVerifier, token: str, reason: str, now: float = NOW) -> None:
    with pytest.raises(InvalidJWT) as info:
        v.verify(token, now=now)
    assert str(info.value) == reason
    if token:
        assert token not in str(info.value)
    assert info.value.__cause__ is None  # library messages may quote token fragments


@pytest.fixture
def rsa_verifier(tmp_path: Path) -> JWTVerifier:
    return verifier(key_file(tmp_path, "rsa", "pem"))


# --------------------------------------------------------------------------- valid tokens


@pytest.mark.parametrize("form", ["pem", "cert", "jwks"])
@pytest.mark.parametrize("kind", ["rsa", "ec", "ed"])
def test_valid_token_passes_for_each_key_form_and_type(
    tmp_path: Path, kind: str, form: str
) -> None:
    v = verifier(key_file(tmp_path, kind, form))
    headers = {"kid": kind} if form == "jwks" else None
    token = mint(KEYS[kind], ALG[kind], headers)
    claims = v.verify(token, now=NOW)
    assert claims == JWTClaims(iss="https://idp.example", jti="j-1", exp=NOW + 3600, sub="alice")


def test_rsa_pss_verifies_with_an_rsa_key(rsa_verifier: JWTVerifier) -> None:
    assert rsa_verifier.verify(mint(alg="PS256"), now=NOW).sub == "alice"


def test_file_with_several_pem_blocks_and_several_files(tmp_path: Path) -> None:
    bundle = write(
        tmp_path,
        "bundle.pem",
        b"some text before\n" + pem_certificate(KEYS["rsa"]) + pem_public(KEYS["ec"]),
    )
    v = verifier(bundle, key_file(tmp_path, "ed", "jwks"))
    for kind in ("rsa", "ec", "ed"):
        assert v.verify(mint(KEYS[kind], ALG[kind]), now=NOW).jti == "j-1"


def test_single_jwk_object_file_and_p384_p521_binding(tmp_path: Path) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    p521 = ec.generate_private_key(ec.SECP521R1())
    f384 = write(tmp_path, "p384.json", jwk(p384.public_key()))
    f521 = write(tmp_path, "p521.pem", pem_public(p521))
    keys = load_keys([f384, f521])
    assert [sorted(k.algorithms) for k in keys] == [["ES384"], ["ES512"]]
    assert [k.description for k in keys] == ["EC P-384", "EC P-521"]
    v = verifier(f384, f521, algorithms=("ES256", "ES384", "ES512"))
    assert v.verify(mint(p384, "ES384"), now=NOW).sub == "alice"
    assert v.verify(mint(p521, "ES512"), now=NOW).sub == "alice"
    # a P-384 key never verifies an ES256 token, even with a matching signature length
    refused(v, mint(KEYS["ec"], "ES256"), "algorithm")


def test_load_keys_binds_each_type_to_its_algorithms(tmp_path: Path) -> None:
    keys = load_keys([key_file(tmp_path, k, "pem") for k in ("rsa", "ec", "ed")])
    assert [k.algorithms for k in keys] == [
        frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
        frozenset({"ES256"}),
        frozenset({"EdDSA"}),
    ]
    assert [k.description for k in keys] == ["RSA-2048", "EC P-256", "Ed25519"]
    assert all(k.file_index == i for i, k in enumerate(keys))


# --------------------------------------------------------------------------- refusals


def test_token_signed_by_another_key_is_refused(rsa_verifier: JWTVerifier) -> None:
    refused(rsa_verifier, mint(OTHER_RSA), "signature")


def test_tampered_payload_is_refused(rsa_verifier: JWTVerifier) -> None:
    header, _, signature = mint().split(".")
    forged = f"{header}.{b64({'sub': 'admin', 'exp': NOW + 3600})}.{signature}"
    refused(rsa_verifier, forged, "signature")


def test_expiry_is_checked_with_leeway(rsa_verifier: JWTVerifier) -> None:
    within = mint(exp=NOW - LEEWAY + 1)
    assert rsa_verifier.verify(within, now=NOW).exp == NOW - LEEWAY + 1
    refused(rsa_verifier, mint(exp=NOW - LEEWAY), "expired")
    refused(rsa_verifier, mint(exp=NOW - 3600), "expired")


def test_exp_is_optional(rsa_verifier: JWTVerifier) -> None:
    assert rsa_verifier.verify(mint(exp=None), now=NOW).exp is None


def test_nbf_and_iat_in_the_future_are_refused(rsa_verifier: JWTVerifier) -> None:
    refused(rsa_verifier, mint(nbf=NOW + LEEWAY + 1), "not yet valid")
    refused(rsa_verifier, mint(iat=NOW + LEEWAY + 1), "not yet valid")
    assert rsa_verifier.verify(mint(nbf=NOW + LEEWAY - 1, iat=NOW + 10), now=NOW)


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", ["soon", True, None, [1]])
def test_time_claims_of_the_wrong_type_are_malformed(
    rsa_verifier: JWTVerifier, claim: str, value: Any
) -> None:
    token = mint_raw({"sub": "alice", claim: value})
    refused(rsa_verifier, token, "malformed")


def test_audience(tmp_path: Path) -> None:
    path = key_file(tmp_path, "rsa", "pem")
    v = verifier(path, audience=("gateway", "kibana"))
    assert v.verify(mint(aud="kibana"), now=NOW)
    assert v.verify(mint(aud=["other", "gateway"]), now=NOW)
    refused(v, mint(aud="other"), "audience")
    refused(v, mint(aud=["other"]), "audience")
    refused(v, mint(), "audience")  # required when configured
    refused(v, mint(aud=[["gateway"]]), "audience")
    # not configured: not checked, whatever the token says
    assert verifier(path).verify(mint(aud="anything"), now=NOW)


def test_issuer(tmp_path: Path) -> None:
    v = verifier(key_file(tmp_path, "rsa", "pem"), issuer="https://idp.example")
    assert v.verify(mint(), now=NOW).iss == "https://idp.example"
    refused(v, mint(iss="https://evil.example"), "issuer")
    refused(v, mint(iss=None), "issuer")  # required when configured
    refused(v, mint_raw({"iss": ["https://idp.example"]}), "issuer")


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", ""])
def test_alg_none_is_refused(rsa_verifier: JWTVerifier, alg: str) -> None:
    token = f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64({'sub': 'admin', 'exp': NOW + 60})}."
    assert looks_like_jwt(token)
    refused(rsa_verifier, token, "algorithm")


def test_hs256_signed_with_the_rsa_public_key_is_refused(tmp_path: Path) -> None:
    public_pem = pem_public(KEYS["rsa"])
    v = verifier(write(tmp_path, "rsa.pem", public_pem))
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64({'sub': 'admin'})}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64(mac)}"
    refused(v, token, "algorithm")
    # HMAC can never be configured either
    with pytest.raises(JWTKeyError, match="HS256"):
        verifier(tmp_path / "rsa.pem", algorithms=("RS256", "HS256"))


def test_hmac_is_unknown_to_the_jws_engine() -> None:
    # Even a caller bug passing algorithms=["HS256"] cannot verify with HMAC.
    signing_input = f"{b64({'alg': 'HS256'})}.{b64({'sub': 'admin'})}"
    mac = hmac.new(b"secret", signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt_signature._JWS.decode_complete(f"{signing_input}.{b64(mac)}", b"secret", ["HS256"])


def test_alg_not_configured_is_refused(tmp_path: Path) -> None:
    v = verifier(key_file(tmp_path, "rsa", "pem"), algorithms=("RS256",))
    assert v.verify(mint(alg="RS256"), now=NOW)
    refused(v, mint(alg="RS512"), "algorithm")
    refused(v, mint(alg="PS256"), "algorithm")


def test_alg_configured_but_without_a_key_is_refused(rsa_verifier: JWTVerifier) -> None:
    # ES256 is allowed by config but only an RSA key is configured
    refused(rsa_verifier, mint(KEYS["ec"], "ES256"), "algorithm")
    assert rsa_verifier.algorithms_with_keys == frozenset({"RS256", "PS256"})


def test_jwk_alg_narrows_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "k.json", {"keys": [jwk(KEYS["rsa"].public_key(), alg="RS256")]})
    v = verifier(path)
    assert v.verify(mint(alg="RS256"), now=NOW)
    refused(v, mint(alg="PS256"), "algorithm")


def test_malformed_tokens(rsa_verifier: JWTVerifier) -> None:
    good = mint()
    header, payload, signature = good.split(".")
    for token in ("", "abc", "a.b.c", "é.b.c", f"{header}.{payload}", f"{header}.!!.{signature}"):
        refused(rsa_verifier, token, "malformed")
    refused(rsa_verifier, f"{b64(b'[1]')}.{payload}.{signature}", "malformed")
    refused(rsa_verifier, f"{b64({'alg': 'RS256', 'kid': 5})}.{payload}.x", "malformed")
    crit = mint(headers={"crit": ["exp"], "exp": 1})
    refused(rsa_verifier, crit, "malformed")
    refused(rsa_verifier, mint_raw([1, 2]), "malformed")
    not_json = mint_raw(b"\xff")
    refused(rsa_verifier, not_json, "malformed")


# --------------------------------------------------------------------------- kid selection


def test_jwks_kid_selection(tmp_path: Path) -> None:
    other_ec = ec.generate_private_key(ec.SECP256R1())
    path = write(
        tmp_path,
        "jwks.json",
        {
            "keys": [
                jwk(KEYS["rsa"].public_key(), kid="a", use="sig"),
                jwk(OTHER_RSA.public_key(), kid="b"),
                jwk(other_ec.public_key(), kid="c"),
                # an encryption key published alongside: skipped, not an error
                jwk(OTHER_RSA.public_key(), kid="enc", use="enc", alg="RSA-OAEP"),
            ]
        },
    )
    keys = load_keys([path])
    assert [k.kid for k in keys] == ["a", "b", "c"]
    v = verifier(path)
    assert v.verify(mint(KEYS["rsa"], headers={"kid": "a"}), now=NOW)
    assert v.verify(mint(OTHER_RSA, headers={"kid": "b"}), now=NOW)
    # the key named by kid is the only one tried
    refused(v, mint(OTHER_RSA, headers={"kid": "a"}), "signature")
    # an unknown kid, or none, falls back to every key fitting the alg
    assert v.verify(mint(OTHER_RSA, headers={"kid": "zzz"}), now=NOW)
    assert v.verify(mint(OTHER_RSA), now=NOW)
    # kid "a" is an RSA key: an ES256 token naming it is checked against the EC keys only
    assert v.verify(mint(other_ec, "ES256", headers={"kid": "a"}), now=NOW)
    refused(v, mint(KEYS["ec"], "ES256", headers={"kid": "a"}), "signature")


def test_kid_selection_tries_only_matching_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        "jwks.json",
        {"keys": [jwk(OTHER_RSA.public_key(), kid="b"), jwk(KEYS["rsa"].public_key(), kid="a")]},
    )
    v = verifier(path)
    tried: list[Any] = []
    real = jwt_signature._JWS.decode_complete

    def spy(token: str, key: Any, algorithms: list[str]) -> dict[str, Any]:
        tried.append(key)
        return real(token, key, algorithms=algorithms)

    monkeypatch.setattr(jwt_signature._JWS, "decode_complete", spy)
    v.verify(mint(KEYS["rsa"], headers={"kid": "a"}), now=NOW)
    assert len(tried) == 1


# --------------------------------------------------------------------------- key file errors


@pytest.mark.parametrize(
    "content",
    [
        pem_private(KEYS["rsa"]),
        pem_private(KEYS["rsa"], serialization.PrivateFormat.TraditionalOpenSSL),
        pem_private(KEYS["ec"], serialization.PrivateFormat.TraditionalOpenSSL),
        pem_private(KEYS["ed"]),
        pem_certificate(KEYS["rsa"]) + pem_private(KEYS["rsa"]),  # combined cert + key
        KEYS["rsa"].private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        ),
    ],
    ids=["pkcs8", "rsa-traditional", "ec-traditional", "ed25519", "cert+key", "encrypted"],
)
def test_private_key_pem_is_refused(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path, "key.pem", content)
    with pytest.raises(JWTKeyError) as info:
        load_keys([path])
    assert str(info.value) == (
        f"tokens.jwt.key_files[0]: {path}: contains a private key; "
        "give the public key or certificate"
    )


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed"])
def test_private_jwk_is_refused(tmp_path: Path, kind: str) -> None:
    path = write(tmp_path, "k.json", {"keys": [jwk(KEYS[kind], kid="x")]})
    with pytest.raises(JWTKeyError, match=r"^tokens\.jwt\.key_files\[0\]: .*contains a private"):
        verifier(path)


def test_oct_jwk_is_refused(tmp_path: Path) -> None:
    secret = {"kty": "oct", "k": b64(b"0123456789abcdef0123456789abcdef"), "alg": "HS256"}
    path = write(tmp_path, "k.json", {"keys": [jwk(KEYS["rsa"].public_key()), secret]})
    with pytest.raises(JWTKeyError) as info:
        load_keys([path])
    assert str(info.value).startswith("tokens.jwt.key_files[0]: ")
    assert "HMAC is never accepted" in str(info.value)


def test_jwk_alg_that_does_not_fit_its_key_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "k.json", jwk(KEYS["rsa"].public_key(), alg="HS256"))
    with pytest.raises(JWTKeyError, match="alg 'HS256' does not fit a RSA-2048 key"):
        load_keys([path])


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "not a PEM public key, PEM certificate or JWKS JSON file"),
        (b"ssh-ed25519 AAAA user@host", "not a PEM public key, PEM certificate"),
        (b"{not json", "not valid JSON"),
        (b'{"keys": {}}', '"keys" must be a list'),
        (b'{"keys": []}', "holds no public signature key"),
        (b'{"hello": 1}', "not a JWKS"),
        (b'{"keys": [{"kty": "RSA", "n": "AQAB"}]}', "invalid RSA JWK"),
        (b'{"keys": [{"kty": "OKP", "crv": "X25519", "x": "AAAA"}]}', "invalid OKP JWK"),
        (b'{"keys": [{"kty": "XYZ"}]}', "unsupported kty 'XYZ'"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "invalid CERTIFICATE"),
        (b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n", "unsupported PEM block 'FOO'"),
    ],
)
def test_unusable_key_files(tmp_path: Path, content: bytes, problem: str) -> None:
    path = write(tmp_path, "k", content)
    with pytest.raises(JWTKeyError) as info:
        load_keys([path])
    assert str(info.value).startswith(f"tokens.jwt.key_files[0]: {path}: ")
    assert problem in str(info.value)


def test_weak_and_unsupported_keys_are_refused(tmp_path: Path) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    k1 = ec.generate_private_key(ec.SECP256K1())
    files = [
        write(tmp_path, "weak.pem", pem_public(weak)),
        write(tmp_path, "k1.pem", pem_public(k1)),
        tmp_path / "missing.pem",
    ]
    with pytest.raises(JWTKeyError) as info:
        load_keys(files)
    errors = info.value.errors
    assert len(errors) == 3  # every problem at once
    assert errors[0].startswith("tokens.jwt.key_files[0]: ")
    assert "1024 bits is too short" in errors[0]
    assert errors[1].startswith("tokens.jwt.key_files[1]: ")
    assert "unsupported EC curve secp256k1" in errors[1]
    assert errors[2].startswith("tokens.jwt.key_files[2]: ")
    assert "cannot read" in errors[2]


def test_no_key_fitting_the_configured_algorithms(tmp_path: Path) -> None:
    path = key_file(tmp_path, "ec", "pem")
    with pytest.raises(JWTKeyError, match=r"^tokens\.jwt\.key_files: no key can verify"):
        verifier(path, algorithms=("RS256",))
    # a key for some configured algorithm is enough
    assert verifier(path, algorithms=("RS256", "ES256"))


# --------------------------------------------------------------------------- cache


def test_cache_hit_and_expiry_of_a_cached_token(
    rsa_verifier: JWTVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = mint(exp=NOW + 60, nbf=NOW - 10)
    first = rsa_verifier.verify(token, now=NOW)

    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("re-verified a cached token")

    monkeypatch.setattr(jwt_signature._JWS, "decode_complete", fail)
    assert rsa_verifier.verify(token, now=NOW + 30) is first
    assert rsa_verifier.verify(token, now=NOW + 60 + LEEWAY - 1) is first
    monkeypatch.undo()
    refused(rsa_verifier, token, "expired", now=NOW + 60 + LEEWAY)
    # a cached entry is only valid inside the window it proved, both ends
    assert rsa_verifier.verify(token, now=NOW) == first
    refused(rsa_verifier, token, "not yet valid", now=NOW - 10 - LEEWAY - 1)


def test_failures_are_not_cached(rsa_verifier: JWTVerifier) -> None:
    token = mint(nbf=NOW + 1000)
    refused(rsa_verifier, token, "not yet valid")
    assert rsa_verifier.verify(token, now=NOW + 1000).sub == "alice"


def test_cache_is_bounded(tmp_path: Path) -> None:
    v = JWTVerifier(
        load_keys([key_file(tmp_path, "rsa", "pem")]), algorithms=("RS256",), cache_size=3
    )
    for n in range(5):
        v.verify(mint(jti=f"j{n}"), now=NOW)
    assert len(v._cache) == 3


# --------------------------------------------------------------------------- unverified helpers


def test_unverified_claims_of_a_jwt() -> None:
    token = mint(OTHER_RSA, exp=123)  # not verified: any key, any time
    assert unverified_claims(token) == JWTClaims("https://idp.example", "j-1", 123.0, "alice")
    alg_none = f"{b64({'alg': 'none'})}.{b64({'iss': 'i', 'jti': 'x'})}."
    assert unverified_claims(alg_none) == JWTClaims("i", "x", None, None)


def test_unverified_claims_wrong_types_become_none() -> None:
    weird = {"iss": 1, "jti": ["x"], "exp": "soon", "sub": None}
    assert unverified_claims(mint_raw(weird)) == JWTClaims(None, None, None, None)
    for exp in (True, 10**400, float("nan"), float("inf")):
        payload = b64(json.dumps({"exp": exp}).encode())
        claims = unverified_claims(f"{b64({'alg': 'none'})}.{payload}.")
        assert claims is not None
        assert claims.exp is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b.c",
        "!!.!!.!!",
        "é.é.é",
        f"{b64({'alg': 'RS256'})}.{b64(b'[1]')}.",
        f"{b64({'alg': 'RS256'})}.{b64(b'nope')}.",
        f"{b64(b'[1]')}.{b64({'sub': 'x'})}.",
        f"{b64({'alg': 'RS256'})}.{b64(b'[' * 100_000)}.",
    ],
)
def test_unverified_claims_of_garbage_is_none(token: str) -> None:
    assert unverified_claims(token) is None


@pytest.mark.parametrize(
    "token",
    [
        "0123456789abcdef0123456789abcdef",
        "dGhpcyBpcyBvcGFxdWU=",
        "a+b/c.d+e/f.g",
        "abc.def",
        "a.b.c.d.e",
        "abc.def.ghi jkl",
        "",
        "..",
        "AT-123-abc",
    ],
)
def test_looks_like_jwt_is_false_for_opaque_tokens(token: str) -> None:
    assert not looks_like_jwt(token)


def test_looks_like_jwt_is_true_for_jws_compact() -> None:
    assert looks_like_jwt(mint())
    assert looks_like_jwt(mint(KEYS["ed"], "EdDSA"))
    assert looks_like_jwt("eyJhbGciOiJub25lIn0.e30.")  # alg none: verified and refused
