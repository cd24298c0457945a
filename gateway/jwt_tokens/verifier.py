"""Verifying bearer JWTs (SPEC §5): signature by a configured public key, then the time
claims, issuer and audience; successful results are cached.

Time claims are checked here (not by PyJWT) so that a caller-supplied ``now`` and the
cache agree: a cached verification is only reused inside the validity window it proved.
Error messages never contain the token.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gateway.jwt_tokens.algorithms import PUBLIC_KEY_ALGORITHMS
from gateway.jwt_tokens.claims import JWTClaims, claim_number, claims_from_payload
from gateway.jwt_tokens.errors import InvalidJWT, JWTKeyError
from gateway.jwt_tokens.keys import VerificationKey, load_keys
from gateway.jwt_tokens.signature import KeyRing, verify_signature

__all__ = ["BearerJWTSettings", "JWTVerifier"]

_CACHE_SIZE = 10_000


class BearerJWTSettings(Protocol):
    """What the verifier needs from ``tokens.jwt`` (gateway.config.JWTConfig). A protocol,
    so this package never imports the config package, which imports its algorithms."""

    @property
    def algorithms(self) -> Sequence[str]: ...
    @property
    def key_files(self) -> Sequence[Path]: ...
    @property
    def issuer(self) -> str | None: ...
    @property
    def audience(self) -> Iterable[str]: ...


@dataclass(frozen=True, slots=True)
class _Verified:
    claims: JWTClaims
    not_before: float  # max(nbf, iat) - leeway, or -inf
    not_after: float  # exp + leeway, or +inf


class JWTVerifier:
    """Verifies bearer JWTs against configured keys; successful results are cached."""

    def __init__(
        self,
        keys: Sequence[VerificationKey],
        *,
        algorithms: Sequence[str],
        issuer: str | None = None,
        audience: Iterable[str] = (),
        leeway: float = 0,
        cache_size: int = _CACHE_SIZE,
    ) -> None:
        bad = [a for a in algorithms if a not in PUBLIC_KEY_ALGORITHMS]
        if bad:
            raise JWTKeyError(
                f"tokens.jwt.algorithms: {', '.join(map(repr, bad))}: not a public-key "
                f"algorithm (use {', '.join(sorted(PUBLIC_KEY_ALGORITHMS))})"
            )
        if leeway < 0 or not math.isfinite(leeway):
            raise ValueError("leeway must be a finite number of seconds >= 0")
        self._keys = KeyRing.bind(keys, algorithms)
        if not self._keys.algorithms_with_keys:
            found = "; ".join(str(vk) for vk in keys) or "none"
            raise JWTKeyError(
                "tokens.jwt.key_files: no key can verify any of tokens.jwt.algorithms "
                f"[{', '.join(algorithms)}] (keys found: {found})"
            )
        self._issuer = issuer
        self._audience = frozenset(audience)
        self._leeway = float(leeway)
        self._cache_size = max(0, cache_size)
        self._cache: OrderedDict[bytes, _Verified] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: BearerJWTSettings, *, leeway: int) -> JWTVerifier:
        """Loads every key file (once); raises JWTKeyError for an unusable one."""
        return cls(
            load_keys(config.key_files),
            algorithms=config.algorithms,
            issuer=config.issuer,
            audience=config.audience,
            leeway=leeway,
        )

    @property
    def algorithms_with_keys(self) -> frozenset[str]:
        """The configured algorithms some key can verify (for `gateway check`)."""
        return self._keys.algorithms_with_keys

    def verify(self, token: str, *, now: float | None = None) -> JWTClaims:
        """The claims of a valid token; raises InvalidJWT (reason in str()) otherwise."""
        if now is None:
            now = time.time()
        if not token.isascii():
            raise InvalidJWT("malformed")
        digest = hashlib.sha256(token.encode("ascii")).digest()
        with self._lock:
            hit = self._cache.get(digest)
            if hit is not None:
                if hit.not_before <= now < hit.not_after:
                    self._cache.move_to_end(digest)
                    return hit.claims
                del self._cache[digest]
        verified = self._check_claims(verify_signature(token, self._keys), now)
        if self._cache_size:
            with self._lock:
                self._cache[digest] = verified
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return verified.claims

    def _check_claims(self, payload: dict[str, Any], now: float) -> _Verified:
        times: dict[str, float] = {}
        for name in ("exp", "nbf", "iat"):
            if name in payload:
                value = claim_number(payload[name])
                if value is None:
                    raise InvalidJWT("malformed")
                times[name] = value
        not_after = times["exp"] + self._leeway if "exp" in times else math.inf
        starts = [times[n] for n in ("nbf", "iat") if n in times]
        not_before = max(starts) - self._leeway if starts else -math.inf
        if now >= not_after:
            raise InvalidJWT("expired")
        if now < not_before:
            raise InvalidJWT("not yet valid")
        if self._issuer is not None and payload.get("iss") != self._issuer:
            raise InvalidJWT("issuer")
        if self._audience:
            aud = payload.get("aud")
            auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
            if not any(isinstance(a, str) and a in self._audience for a in auds):
                raise InvalidJWT("audience")
        return _Verified(claims_from_payload(payload), not_before, not_after)
