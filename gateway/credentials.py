"""Credentials a request carries, and their fingerprints (SPEC §5).

Raw credential values never leave this module's callers except towards the
upstream: stores, logs and audit records only ever see fingerprints.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus

from gateway.http import Request
from gateway.jwt_tokens import JWTClaims, looks_like_jwt, unverified_claims

SESSION = "session"
TOKEN = "token"  # noqa: S105 - a kind name, not a secret; bearer access tokens and refresh tokens share one namespace
TICKET = "ticket"
JTI = "jti"  # a JWT's (iss, jti): denies re-encoded copies of a revoked JWT

# 128 bits of HMAC output: collision-free in practice, half the index size.
_FP_HEX = 32


@dataclass(frozen=True, slots=True)
class Credential:
    kind: str  # SESSION | TOKEN | JTI
    name: str  # cookie name, or "bearer" / "refresh_token"
    fingerprint: str
    expires_at: float | None = None  # a JWT's own `exp`: revocation need not outlive it


class Fingerprinter:
    """HMAC-SHA256 over kind and value, keyed by the deployment's secret.

    Keyed (not a bare hash) so that a leaked store or audit file cannot be used
    to confirm guesses of low-entropy session ids.
    """

    __slots__ = ("_cache", "_key")

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("fingerprint key must be at least 16 bytes")
        self._key = key
        # A small bounded memo: the same few cookies arrive on every request.
        self._cache: dict[tuple[str, str], str] = {}

    def __call__(self, kind: str, value: str) -> str:
        memo_key = (kind, value)
        fp = self._cache.get(memo_key)
        if fp is None:
            # surrogateescape: mitmproxy hands non-UTF-8 header bytes over as
            # lone surrogates; they must fingerprint, not raise.
            raw = value.encode("utf-8", "surrogateescape")
            mac = hmac.new(self._key, kind.encode() + b"\0" + raw, hashlib.sha256)
            fp = mac.hexdigest()[:_FP_HEX]
            if len(self._cache) >= 4096:
                self._cache.clear()
            self._cache[memo_key] = fp
        return fp


def parse_cookie_header(values: Iterable[str]) -> list[tuple[str, str]]:
    """All (name, value) pairs of one or more Cookie headers, duplicates kept.

    A revoked session hidden behind a second cookie of the same name must still
    be seen, so nothing is de-duplicated here (RFC 6265 §5.4 allows duplicates).
    """
    pairs: list[tuple[str, str]] = []
    for header in values:
        for part in header.split(";"):
            name, sep, value = part.partition("=")
            if not sep:
                continue
            name = name.strip()
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            if name and value:
                pairs.append((name, value))
    return pairs


def bearer_tokens(values: Iterable[str]) -> list[str]:
    """Bearer tokens of the Authorization header(s); scheme case-insensitive
    (RFC 7235 §2.1)."""
    tokens: list[str] = []
    for header in values:
        scheme, _, rest = header.strip().partition(" ")
        if scheme.lower() == "bearer":
            token = rest.strip()
            if token:
                tokens.append(token)
    return tokens


def request_credentials(
    request: Request,
    cookie_names: frozenset[str],
    fingerprint: Fingerprinter,
    *,
    url_parameters: bool = True,
) -> list[Credential]:
    """Every session cookie (or URL session id), bearer token and JWT id the
    request carries, fingerprinted: what the engine reads, without keeping a
    reader around."""
    return CredentialReader(cookie_names, fingerprint, url_parameters=url_parameters).read(request)


def _decoded_variants(raw: str, decode: Callable[[str], str]) -> list[str]:
    """The value as sent and, when it holds escapes, as a container would decode
    it: both are the session the upstream may pick, so both are checked."""
    values = [raw] if raw else []
    if "%" in raw or (decode is unquote_plus and "+" in raw):
        decoded = decode(raw)
        if decoded and decoded != raw:
            values.append(decoded)
    return values


def url_session_ids(path: str, query: str, names: dict[str, str]) -> list[tuple[str, str]]:
    """(cookie name, value) of every session id in the URL (SPEC §5).

    `names` maps lower-cased cookie names to their configured spelling. Servlet
    containers accept `;jsessionid=…` in any path segment (URL rewriting) and
    some frameworks `?jsessionid=…`, when no cookie is sent; the parameter name
    is compared in any letter case, and escaped names or values are checked both
    as sent and decoded (the safe side: more matches, never fewer).
    """
    found: list[tuple[str, str]] = []
    if ";" in path:
        for segment in path.split("/"):
            if ";" not in segment:
                continue
            for param in segment.split(";")[1:]:
                name, sep, value = param.partition("=")
                if not sep:
                    continue
                canonical = names.get(unquote(name).strip().lower())
                if canonical is not None:
                    found.extend((canonical, v) for v in _decoded_variants(value, unquote))
    if query:
        for item in query.split("&"):
            name, sep, value = item.partition("=")
            if not sep:
                continue
            canonical = names.get(unquote_plus(name).strip().lower())
            if canonical is not None:
                found.extend((canonical, v) for v in _decoded_variants(value, unquote_plus))
    return found


class CredentialReader:
    """Reads every credential of a request, JWT ids included, with a memo of
    decoded JWT claims (the same few tokens arrive on every request)."""

    def __init__(
        self,
        cookie_names: frozenset[str],
        fingerprint: Fingerprinter,
        *,
        url_parameters: bool = True,
    ) -> None:
        self.cookie_names = cookie_names
        self.fingerprint = fingerprint
        # lower-cased name → configured spelling; empty: URL ids are not read
        self._url_names = {n.lower(): n for n in cookie_names} if url_parameters else {}
        self._claims: dict[str, JWTClaims | None] = {}
        # A client sends the same Cookie/Authorization headers on every request:
        # remember what they carry (bounded; the hot path becomes a dict lookup).
        self._memo: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[Credential, ...]] = {}

    def claims(self, token: str) -> JWTClaims | None:
        if not looks_like_jwt(token):
            return None
        if token in self._claims:
            return self._claims[token]
        claims = unverified_claims(token)
        if len(self._claims) >= 4096:
            self._claims.clear()
        self._claims[token] = claims
        return claims

    def token(self, value: str, name: str) -> list[Credential]:
        """A bearer or refresh token, plus its (iss, jti) when it is a JWT."""
        claims = self.claims(value)
        exp = claims.exp if claims is not None else None
        creds = [Credential(TOKEN, name, self.fingerprint(TOKEN, value), exp)]
        if claims is not None and claims.jti:
            jti_key = f"{claims.iss or ''}\0{claims.jti}"
            creds.append(Credential(JTI, name, self.fingerprint(JTI, jti_key), exp))
        return creds

    def read(self, request: Request) -> list[Credential]:
        cookies: list[str] = []
        auths: list[str] = []
        for name, value in request.headers:
            if name == "cookie":
                cookies.append(value)
            elif name == "authorization":
                auths.append(value)
        creds: list[Credential]
        if not cookies and not auths:
            creds = []
        else:
            key = (tuple(cookies), tuple(auths))
            hit = self._memo.get(key)
            if hit is None:
                hit = tuple(self._extract(cookies, auths))
                if len(self._memo) >= 8192:
                    self._memo.clear()
                self._memo[key] = hit
            creds = list(hit)
        if self._url_names and (";" in request.path or self._query_may_hold(request.query)):
            self._add_url_sessions(request, creds)
        return creds

    def _query_may_hold(self, query: str) -> bool:
        # Cheap pre-check for the hot path; escapes and `+` might spell a name.
        if not query:
            return False
        lowered = query.lower()
        return "%" in query or "+" in query or any(n in lowered for n in self._url_names)

    def _add_url_sessions(self, request: Request, creds: list[Credential]) -> None:
        seen = {c.fingerprint for c in creds}
        for name, value in url_session_ids(request.path, request.query, self._url_names):
            fp = self.fingerprint(SESSION, value)
            if fp not in seen:
                seen.add(fp)
                creds.append(Credential(SESSION, name, fp))

    def _extract(self, cookies: list[str], auths: list[str]) -> list[Credential]:
        creds: list[Credential] = []
        seen: set[str] = set()
        for name, value in parse_cookie_header(cookies):
            if name in self.cookie_names:
                fp = self.fingerprint(SESSION, value)
                if fp not in seen:
                    seen.add(fp)
                    creds.append(Credential(SESSION, name, fp))
        for raw in bearer_tokens(auths):
            for cred in self.token(raw, "bearer"):
                if cred.fingerprint not in seen:
                    seen.add(cred.fingerprint)
                    creds.append(cred)
        return creds
