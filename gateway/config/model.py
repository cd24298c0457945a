"""The validated config (SPEC §4): one frozen dataclass per YAML section.

The field names are the YAML keys (gateway.config.section_keys derives the allowed keys
from them), so a new key is a new field here plus the line in gateway.config.sections
that reads it. Fixed choices are Literal types; their values come from the same
Literal, so the type and the validator cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Literal, get_args

__all__ = [
    "LISTEN_MODES",
    "OIDC_DEFAULTS",
    "ON_ERROR_CHOICES",
    "ROUTE_DEFAULTS",
    "ROUTE_MODES",
    "SIG_ALGS",
    "STORE_BACKENDS",
    "AdminConfig",
    "AuditConfig",
    "AuditFloodConfig",
    "CASConfig",
    "CASSLOConfig",
    "Config",
    "JWTConfig",
    "LimitsConfig",
    "ListenMode",
    "OIDCConfig",
    "OnError",
    "RedisSentinelConfig",
    "RouteConfig",
    "RouteDefaults",
    "RouteMode",
    "RoutesConfig",
    "SAMLConfig",
    "SessionsConfig",
    "SigAlg",
    "SourceNetwork",
    "StoreBackend",
    "StoreConfig",
    "TLSConfig",
    "TokensConfig",
    "UpstreamTLSConfig",
]

ListenMode = Literal["reverse", "transparent"]
StoreBackend = Literal["memory", "sqlite", "redis"]
OnError = Literal["deny", "allow"]  # the store is unavailable: fail closed (503) or open
RouteMode = Literal["short_circuit", "forward"]
SigAlg = Literal["rsa-sha256", "rsa-sha512", "ecdsa-sha256"]

# In the order error messages list them.
LISTEN_MODES: tuple[ListenMode, ...] = get_args(ListenMode)
STORE_BACKENDS: tuple[StoreBackend, ...] = get_args(StoreBackend)
ON_ERROR_CHOICES: tuple[OnError, ...] = get_args(OnError)
ROUTE_MODES: tuple[RouteMode, ...] = get_args(RouteMode)
SIG_ALGS: tuple[SigAlg, ...] = get_args(SigAlg)


@dataclass(frozen=True)
class TLSConfig:
    cert_file: Path | None
    key_file: Path | None


@dataclass(frozen=True)
class UpstreamTLSConfig:
    verify: bool
    ca_file: Path | None


@dataclass(frozen=True)
class RedisSentinelConfig:
    """SPEC §12: find the Redis primary through Sentinel and follow its failovers."""

    hosts: tuple[tuple[str, int], ...]  # (host, port) of each sentinel, in the order given
    service: str  # the master name the sentinels monitor (`sentinel monitor <name> …`)


@dataclass(frozen=True)
class StoreConfig:
    backend: StoreBackend
    sqlite_path: Path
    redis_url: str = field(repr=False)  # may carry a password
    on_error: OnError
    # Extension to SPEC §4: a fingerprint HMAC key shared by replicas (SPEC §5 allows the key
    # to be "set by config"). None: the key is created/found in state_dir or the shared store.
    fingerprint_key: str | None = field(repr=False)
    # SPEC §12. None: redis_url's host:port is the primary. Set: Sentinel names the primary,
    # and redis_url supplies only the scheme (TLS), user, password and db number.
    redis_sentinel: RedisSentinelConfig | None = None
    # SPEC §12: revocation writes wait (Redis WAIT) for this many replicas; 0: don't.
    min_replicas_ack: int = 0


@dataclass(frozen=True)
class AuditFloodConfig:
    # SPEC §7.1: records anyone can cause without a credential, per client IP and minute.
    per_client_per_minute: int


@dataclass(frozen=True)
class AuditConfig:
    path: Path
    fsync: bool
    flood: AuditFloodConfig = AuditFloodConfig(60)


@dataclass(frozen=True)
class SessionsConfig:
    cookies: tuple[str, ...]
    max_lifetime: int
    idle_timeout: int | None
    # SPEC §5: `;jsessionid=` path parameters and `?jsessionid=` query parameters.
    url_parameters: bool = True
    # Extension to SPEC §4.1 (issue 15): a response header naming the user on the upstream's
    # answer that sets a session cookie, so sessions are listed per user (POST /-/revoke).
    # Lower-cased; None: sessions are learned without a user.
    user_header: str | None = None


@dataclass(frozen=True)
class JWTConfig:
    algorithms: tuple[str, ...]  # from gateway.jwt_tokens.algorithms.JWT_ALGORITHMS
    key_files: tuple[Path, ...]
    issuer: str | None
    audience: tuple[str, ...]  # empty: `aud` is not checked


@dataclass(frozen=True)
class TokensConfig:
    max_lifetime: int
    jwt: JWTConfig | None


@dataclass(frozen=True)
class RouteConfig:
    path: str | None  # None: a route found by content on any path (cas_slo, SPEC §10.1)
    mode: RouteMode


@dataclass(frozen=True)
class RouteDefaults:
    """What a route is when the config does not say (SPEC §4 `routes`)."""

    path: str | None  # None: the route has no path, and the config may not give it one
    mode: RouteMode = "short_circuit"


_ROUTE_DEFAULTS = "route_defaults"  # the RoutesConfig field metadata key


def _route(path: str | None, mode: RouteMode = "short_circuit") -> dict[str, RouteDefaults]:
    return {_ROUTE_DEFAULTS: RouteDefaults(path, mode)}


@dataclass(frozen=True)
class RoutesConfig:
    """One field per route, named as in the YAML; None: the route is disabled. Each
    field carries its defaults, so route names and defaults are one list."""

    cas_logout: RouteConfig | None = field(metadata=_route("/cas/logout"))
    logout_action: RouteConfig | None = field(metadata=_route("/web/v1/logout_action"))
    saml_logout: RouteConfig | None = field(metadata=_route("/_security/saml/logout"))
    # SPEC §10.4-§10.5 (issue 14). token_invalidate owns only DELETE on its path (the
    # refresh grant POSTs there); oidc_backchannel is active only once oidc.issuer,
    # oidc.client_id and oidc.jwks_file are set.
    oidc_logout: RouteConfig | None = field(metadata=_route("/_security/oidc/logout", "forward"))
    token_invalidate: RouteConfig | None = field(
        metadata=_route("/_security/oauth2/token", "forward")
    )
    oidc_backchannel: RouteConfig | None = field(metadata=_route("/-/oidc/backchannel-logout"))
    # Logouts started at the centre (SPEC §10.1-§10.3). cas_slo has no path: it is a form
    # field on any path. Each is active only while the keys it needs are set
    # (gateway.config.slo_activation).
    cas_slo: RouteConfig | None = field(metadata=_route(None))
    saml_invalidate: RouteConfig | None = field(metadata=_route("/_security/saml/invalidate"))
    saml_complete: RouteConfig | None = field(metadata=_route("/_security/saml/complete_logout"))

    def by_name(self) -> dict[str, RouteConfig | None]:
        """Every route by its YAML name, in declaration order."""
        return {name: getattr(self, name) for name in ROUTE_DEFAULTS}


#: Route name → defaults, in declaration order. Built at import, so a RoutesConfig field
#: without defaults fails at once.
ROUTE_DEFAULTS: dict[str, RouteDefaults] = {
    f.name: f.metadata[_ROUTE_DEFAULTS] for f in fields(RoutesConfig)
}


SourceNetwork = IPv4Network | IPv6Network


@dataclass(frozen=True)
class CASSLOConfig:
    # SPEC §10.1: where the CAS server's back-channel POSTs may come from; empty: the
    # cas_slo route is inactive (such POSTs are ordinary requests).
    allowed_sources: tuple[SourceNetwork, ...]
    front_channel: bool  # also GET ?logoutRequest=<deflated base64> from browsers


@dataclass(frozen=True)
class CASConfig:
    server_url: str | None
    service_url: str | None
    allowed_service_hosts: tuple[str, ...]
    slo: CASSLOConfig = CASSLOConfig((), False)


@dataclass(frozen=True)
class SAMLConfig:
    sp_entity_id: str | None
    idp_entity_id: str | None
    idp_slo_url: str | None
    sp_slo_url: str | None
    sign: bool
    sig_alg: SigAlg
    sp_key_file: Path | None
    sp_cert_file: Path | None
    idp_cert_file: Path | None
    clock_skew: int
    # The upstream SP's AssertionConsumerService, for schema-valid metadata (SPEC §3).
    sp_acs_url: str | None = None


@dataclass(frozen=True)
class OIDCConfig:
    """The OpenID Provider behind the upstream's OIDC realm (SPEC §4.1, §10.4)."""

    issuer: str | None  # `iss` of logout tokens
    client_id: str | None  # our audience (`aud` of logout tokens); client_id= of the redirect
    jwks_file: Path | None  # the OP's public keys, to verify logout tokens
    end_session_url: str | None  # oidc_logout in short_circuit mode
    post_logout_redirect_url: str | None
    principal_claim: str = "sub"  # the claim the upstream's realm takes the username from

    def verifies_logout_tokens(self) -> bool:
        """Whether the back-channel route can work: it is active only then."""
        return None not in (self.issuer, self.client_id, self.jwks_file)


OIDC_DEFAULTS = OIDCConfig(None, None, None, None, None)


@dataclass(frozen=True)
class LimitsConfig:
    max_body_bytes: int
    # SPEC §9: other request/response bodies above this many bytes are streamed through,
    # never held whole. At least max_body_bytes: a body the gateway reads is never streamed.
    stream_bodies_over: int = 1024 * 1024


@dataclass(frozen=True)
class AdminConfig:
    """SPEC §11 / §4.1 `admin`: the admin server (health, metrics, revoke, status page)."""

    listen_host: str | None  # listen_host and listen_port are the YAML key `listen`; None: off
    listen_port: int | None
    token_file: Path | None
    # The bearer token read from token_file at load time (whitespace stripped); not a YAML key.
    token: str | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Config:
    listen_host: str  # listen_host and listen_port are the YAML key `listen`
    listen_port: int
    mode: ListenMode
    upstream: str | None
    state_dir: Path
    tls: TLSConfig
    upstream_tls: UpstreamTLSConfig
    store: StoreConfig
    audit: AuditConfig
    sessions: SessionsConfig
    tokens: TokensConfig
    routes: RoutesConfig
    cas: CASConfig
    saml: SAMLConfig
    limits: LimitsConfig
    source: Path | None  # the file it was loaded from; not a YAML key
    oidc: OIDCConfig = OIDC_DEFAULTS
    admin: AdminConfig = AdminConfig(None, None, None)
