"""The validated config (SPEC §4): one frozen dataclass per YAML section.

The field names are the YAML keys (gateway.config.section_keys derives the allowed keys
from them), so a new key is a new field here plus the line in gateway.config.sections
that reads it. Fixed choices are Literal types; their values come from the same
Literal, so the type and the validator cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal, get_args

__all__ = [
    "LISTEN_MODES",
    "ON_ERROR_CHOICES",
    "ROUTE_DEFAULTS",
    "ROUTE_MODES",
    "SIG_ALGS",
    "STORE_BACKENDS",
    "AuditConfig",
    "AuditFloodConfig",
    "CASConfig",
    "Config",
    "JWTConfig",
    "LimitsConfig",
    "ListenMode",
    "OnError",
    "RouteConfig",
    "RouteDefaults",
    "RouteMode",
    "RoutesConfig",
    "SAMLConfig",
    "SessionsConfig",
    "SigAlg",
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
class StoreConfig:
    backend: StoreBackend
    sqlite_path: Path
    redis_url: str = field(repr=False)  # may carry a password
    on_error: OnError
    # Extension to SPEC §4: a fingerprint HMAC key shared by replicas (SPEC §5 allows the key
    # to be "set by config"). None: the key is created/found in state_dir or the shared store.
    fingerprint_key: str | None = field(repr=False)


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
    path: str
    mode: RouteMode


@dataclass(frozen=True)
class RouteDefaults:
    """What a route is when the config does not say (SPEC §4 `routes`)."""

    path: str
    mode: RouteMode = "short_circuit"


_ROUTE_DEFAULTS = "route_defaults"  # the RoutesConfig field metadata key


def _route(path: str, mode: RouteMode = "short_circuit") -> dict[str, RouteDefaults]:
    return {_ROUTE_DEFAULTS: RouteDefaults(path, mode)}


@dataclass(frozen=True)
class RoutesConfig:
    """One field per route, named as in the YAML; None: the route is disabled. Each
    field carries its defaults, so route names and defaults are one list."""

    cas_logout: RouteConfig | None = field(metadata=_route("/cas/logout"))
    logout_action: RouteConfig | None = field(metadata=_route("/web/v1/logout_action"))
    saml_logout: RouteConfig | None = field(metadata=_route("/_security/saml/logout"))

    def by_name(self) -> dict[str, RouteConfig | None]:
        """Every route by its YAML name, in declaration order."""
        return {name: getattr(self, name) for name in ROUTE_DEFAULTS}


#: Route name → defaults, in declaration order. Built at import, so a RoutesConfig field
#: without defaults fails at once.
ROUTE_DEFAULTS: dict[str, RouteDefaults] = {
    f.name: f.metadata[_ROUTE_DEFAULTS] for f in fields(RoutesConfig)
}


@dataclass(frozen=True)
class CASConfig:
    server_url: str | None
    service_url: str | None
    allowed_service_hosts: tuple[str, ...]


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
class LimitsConfig:
    max_body_bytes: int
    # SPEC §9: other request/response bodies above this many bytes are streamed through,
    # never held whole. At least max_body_bytes: a body the gateway reads is never streamed.
    stream_bodies_over: int = 1024 * 1024


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
