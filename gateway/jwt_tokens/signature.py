"""The JWS signature check shared by every JWT verifier: keys indexed by algorithm (and
kid), and a function that returns a token's payload only if one of them signed it.

Time and audience rules differ between token kinds (bearer access tokens, OpenID Connect
logout tokens), so they are left to the callers; what must never differ is here:

* Only public-key algorithms exist in this module's JWS instance: ``none`` and HS* are
  unknown to it, so no configuration or token header can make them verify.
* A token is only ever tried against keys bound to its ``alg`` (and allowed by the
  caller), which defeats the HS256-with-the-RSA-public-key confusion.
* Exceptions from the JWT library are not chained onto :class:`InvalidJWT` (their text
  may quote header or payload fragments).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from gateway.jwt_tokens.algorithms import PUBLIC_KEY_ALGORITHMS
from gateway.jwt_tokens.errors import InvalidJWT
from gateway.jwt_tokens.keys import VerificationKey

__all__ = ["KeyRing", "verify_signature"]

# The one JWS engine used for verification. Its registry holds public-key algorithms
# only: "none" and HS* raise InvalidAlgorithmError inside PyJWT whatever the caller does.
_JWS = jwt.PyJWS(algorithms=sorted(PUBLIC_KEY_ALGORITHMS))


@dataclass(frozen=True, slots=True)
class KeyRing:
    """Verification keys usable for the allowed algorithms, indexed for lookup."""

    algorithms: frozenset[str]  # allowed; some may have no key
    by_alg: Mapping[str, tuple[VerificationKey, ...]]
    by_alg_kid: Mapping[tuple[str, str], tuple[VerificationKey, ...]]

    @classmethod
    def bind(cls, keys: Iterable[VerificationKey], algorithms: Iterable[str]) -> KeyRing:
        """Each key under every allowed algorithm it fits. Raises ValueError for an
        algorithm that is not a public-key one (callers report that in their own words
        first; this keeps a second verifier from ever allowing one)."""
        allowed = frozenset(algorithms)
        if not allowed <= PUBLIC_KEY_ALGORITHMS:
            raise ValueError(
                f"not public-key algorithms: {sorted(allowed - PUBLIC_KEY_ALGORITHMS)}"
            )
        by_alg: dict[str, list[VerificationKey]] = {}
        by_alg_kid: dict[tuple[str, str], list[VerificationKey]] = {}
        for vk in keys:
            for alg in vk.algorithms & allowed:
                by_alg.setdefault(alg, []).append(vk)
                if vk.kid is not None:
                    by_alg_kid.setdefault((alg, vk.kid), []).append(vk)
        return cls(
            allowed,
            {alg: tuple(vks) for alg, vks in by_alg.items()},
            {key: tuple(vks) for key, vks in by_alg_kid.items()},
        )

    @property
    def algorithms_with_keys(self) -> frozenset[str]:
        return frozenset(self.by_alg)

    def candidates(self, alg: str, kid: object) -> tuple[VerificationKey, ...]:
        """The keys to try for a token header's alg and kid: the kid's keys if the kid
        names any, else every key of the algorithm."""
        found: tuple[VerificationKey, ...] = ()
        if isinstance(kid, str):
            found = self.by_alg_kid.get((alg, kid), ())
        return found or self.by_alg.get(alg, ())


def verify_signature(token: str, keys: KeyRing) -> dict[str, Any]:
    """The JSON object payload of `token` if a key of `keys` signed it with an allowed
    algorithm. No claim is checked. Raises InvalidJWT: "malformed", "algorithm" (not
    allowed, or no key for it) or "signature"."""
    try:
        header = jwt.get_unverified_header(token)
    except Exception:  # hostile input: any decoding failure is "malformed"
        raise InvalidJWT("malformed") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in keys.algorithms:
        raise InvalidJWT("algorithm")
    if "crit" in header:  # no JWS extension is understood here (RFC 7515 §4.1.11)
        raise InvalidJWT("malformed")
    candidates = keys.candidates(alg, header.get("kid"))
    if not candidates:
        raise InvalidJWT("algorithm")  # allowed, but no configured key fits it
    payload_bytes: bytes | None = None
    for vk in candidates:
        try:
            decoded = _JWS.decode_complete(token, vk.key, algorithms=[alg])
        except jwt.InvalidSignatureError:
            continue
        except jwt.InvalidAlgorithmError:
            raise InvalidJWT("algorithm") from None
        except Exception:
            raise InvalidJWT("malformed") from None
        payload_bytes = decoded["payload"]
        break
    if payload_bytes is None:
        raise InvalidJWT("signature")
    try:
        payload = json.loads(payload_bytes)
    except (ValueError, RecursionError):
        raise InvalidJWT("malformed") from None
    if not isinstance(payload, dict):
        raise InvalidJWT("malformed")
    return payload
