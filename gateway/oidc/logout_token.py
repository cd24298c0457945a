"""Verifying OpenID Connect Back-Channel Logout 1.0 logout tokens (SPEC §10.4).

The checks, in order (each failure is `InvalidLogoutToken` with a short reason that
never quotes the token):

1. JWS header: `alg` a public-key algorithm some key of ``oidc.jwks_file`` fits
   (never ``none``, never HMAC: the shared signature module knows no others); a
   `kid`, when present, must name a key of that algorithm (no "try every key"
   fallback for a kid the OP never published); `typ`, when present, ``logout+jwt``
   (the final spec's explicit typing, §2.4) or the generic ``JWT``, so that another
   kind of token (``at+jwt``, ``secevent+jwt``) is never read as a logout token.
2. The signature, by `gateway.jwt_tokens.signature.verify_signature`.
3. Claims (§2.4, §2.6): `iss` = ``oidc.issuer``; `aud` (string or list) contains
   ``oidc.client_id``; `iat` present and within the leeway of now, either way;
   `exp` within the leeway when present (see below); `jti` a non-empty string;
   `events` a JSON object with the member
   ``http://schemas.openid.net/event/backchannel-logout`` whose value is a JSON object
   (§2.4: MUST be an object, SHOULD be ``{}``); `sub` and/or `sid` (non-empty strings;
   a present one of another type is refused); no `nonce` (§2.4: prohibited, so an ID
   token can never pass as a logout token).

`exp`: the final 1.0 text lists it among the logout token's claims, but the drafts
before it did not, and OPs built to them send none. SPEC §10.4 says "iat (and exp when
present)": a token without `exp` is accepted, because `iat` already bounds how long
it is usable (leeway both ways) and `jti` makes it single-use. A present `exp` must
be a number and not past (with the leeway).

Replay (`jti` seen before) needs the shared store, so the route checks it, after
everything here passed: an invalid token never uses up a `jti`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from gateway.jwt_tokens.claims import claim_number
from gateway.jwt_tokens.errors import InvalidJWT
from gateway.jwt_tokens.signature import KeyRing, verify_signature

__all__ = ["BACKCHANNEL_EVENT", "InvalidLogoutToken", "LogoutToken", "LogoutTokenVerifier"]

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# `typ` values accepted (compared case-insensitively, RFC 7515 §4.1.9 allows the
# "application/" prefix to be left out).
_TYPES = frozenset({"logout+jwt", "application/logout+jwt", "jwt", "application/jwt"})
_MAX_CLAIM_CHARS = 1024  # sub, sid, jti: identifiers, never kilobytes
# How long past its validity window a jti is remembered: after `iat + leeway` the
# token is refused by its `iat` anyway, the margin covers clock steps.
_JTI_MARGIN = 60.0


class InvalidLogoutToken(Exception):
    """The logout token must be refused; ``str()`` is a short reason for the answer's
    ``error_description`` and the audit record, never the token or a claim value."""


@dataclass(frozen=True, slots=True)
class LogoutToken:
    """What a verified logout token asks for."""

    issuer: str
    jti: str
    sub: str | None
    sid: str | None
    remember_jti_until: float  # epoch seconds: replays are refused at least this long


class LogoutTokenVerifier:
    def __init__(self, keys: KeyRing, *, issuer: str, client_id: str, leeway: float) -> None:
        if leeway < 0 or not math.isfinite(leeway):
            raise ValueError("leeway must be a finite number of seconds >= 0")
        self._keys = keys
        self._issuer = issuer
        self._client_id = client_id
        self._leeway = float(leeway)

    def verify(self, token: str, *, now: float) -> LogoutToken:
        if not token or not token.isascii():
            raise InvalidLogoutToken("malformed")
        self._check_header(token)
        try:
            payload = verify_signature(token, self._keys)
        except InvalidJWT as exc:
            raise InvalidLogoutToken(str(exc)) from None
        return self._check_claims(payload, now)

    # -- header ----------------------------------------------------------------

    def _check_header(self, token: str) -> None:
        try:
            header = jwt.get_unverified_header(token)
        except Exception:  # hostile input: any decoding failure is "malformed"
            raise InvalidLogoutToken("malformed") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._keys.algorithms_with_keys:
            raise InvalidLogoutToken("algorithm")
        if "kid" in header:
            kid = header["kid"]
            if not isinstance(kid, str) or (alg, kid) not in self._keys.by_alg_kid:
                raise InvalidLogoutToken("unknown kid")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in _TYPES):
            raise InvalidLogoutToken("typ is not logout+jwt")

    # -- claims ----------------------------------------------------------------

    def _check_claims(self, payload: Mapping[str, Any], now: float) -> LogoutToken:
        if payload.get("iss") != self._issuer:
            raise InvalidLogoutToken("iss is not oidc.issuer")
        aud = payload.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self._client_id not in [a for a in audiences if isinstance(a, str)]:
            raise InvalidLogoutToken("aud does not contain oidc.client_id")
        iat = self._time(payload, "iat")
        if iat is None:
            raise InvalidLogoutToken("iat missing")
        if iat > now + self._leeway:
            raise InvalidLogoutToken("iat in the future")
        if iat < now - self._leeway:
            raise InvalidLogoutToken("iat too old")
        exp = self._time(payload, "exp")
        if exp is not None and now >= exp + self._leeway:
            raise InvalidLogoutToken("expired")
        events = payload.get("events")
        if not isinstance(events, dict):
            raise InvalidLogoutToken("events missing or not an object")
        if BACKCHANNEL_EVENT not in events:
            raise InvalidLogoutToken("events has no back-channel logout member")
        if not isinstance(events[BACKCHANNEL_EVENT], dict):
            raise InvalidLogoutToken("back-channel logout event value is not an object")
        if "nonce" in payload:
            raise InvalidLogoutToken("nonce present")
        sub = self._identifier(payload, "sub")
        sid = self._identifier(payload, "sid")
        if sub is None and sid is None:
            raise InvalidLogoutToken("neither sub nor sid")
        jti = self._identifier(payload, "jti")
        if jti is None:
            raise InvalidLogoutToken("jti missing")
        remember = max(iat, now) + self._leeway + _JTI_MARGIN
        return LogoutToken(self._issuer, jti, sub, sid, remember)

    @staticmethod
    def _time(payload: Mapping[str, Any], name: str) -> float | None:
        if name not in payload:
            return None
        value = claim_number(payload[name])
        if value is None:
            raise InvalidLogoutToken(f"{name} is not a number")
        return value

    @staticmethod
    def _identifier(payload: Mapping[str, Any], name: str) -> str | None:
        """A present claim must be a usable string; absent is None."""
        if name not in payload:
            return None
        value = payload[name]
        if not isinstance(value, str) or not value or len(value) > _MAX_CLAIM_CHARS:
            raise InvalidLogoutToken(f"{name} is not a usable string")
        return value
