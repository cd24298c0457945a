"""Reading each config section into its dataclass (SPEC §4), and the rules that span
sections (keys required only while a route needing them is enabled).

One line per key: `field=r.get("key", default, parser)`. The keys a section accepts are
its dataclass's fields (gateway.config.section_keys), so nothing else lists them.
"""

from __future__ import annotations

from pathlib import Path

from gateway.config.addresses import (
    as_base_url,
    as_host_entry,
    as_route_path,
    as_sentinel_host,
    as_source_network,
    as_upstream,
    as_url,
    parse_listen,
)
from gateway.config.errors import ErrorCollector
from gateway.config.files import file_converter, secret_file_converter
from gateway.config.model import (
    ON_ERROR_CHOICES,
    ROUTE_DEFAULTS,
    ROUTE_MODES,
    SIG_ALGS,
    STORE_BACKENDS,
    AdminConfig,
    AuditConfig,
    AuditFloodConfig,
    CASConfig,
    CASSLOConfig,
    JWTConfig,
    LimitsConfig,
    ListenMode,
    OIDCConfig,
    RedisSentinelConfig,
    RouteConfig,
    RoutesConfig,
    SAMLConfig,
    SessionsConfig,
    StoreConfig,
    TLSConfig,
    TokensConfig,
    UpstreamTLSConfig,
)
from gateway.config.reader import SectionReader
from gateway.config.section_keys import yaml_keys
from gateway.config.values import (
    as_audience,
    as_bool,
    as_claim_name,
    as_cookie_name,
    as_fingerprint_key,
    as_header_name,
    as_jwt_algorithm,
    as_max_body_bytes,
    as_min_replicas_ack,
    as_per_minute,
    as_redis_url,
    as_sentinel_service,
    as_stream_bodies_over,
    one_of,
    optional,
    parse_duration,
    positive_duration,
)

__all__ = [
    "check_oidc_required",
    "check_required",
    "read_admin",
    "read_audit",
    "read_cas",
    "read_limits",
    "read_oidc",
    "read_routes",
    "read_saml",
    "read_sessions",
    "read_store",
    "read_tls",
    "read_tokens",
    "read_upstream",
    "read_upstream_tls",
]


def read_upstream(top: SectionReader, mode: ListenMode | None) -> str | None:
    """`upstream`; `mode` None: unknown (invalid), so "required" cannot be decided."""
    if mode == "transparent":
        if top.raw("upstream") is not None:
            top.error("upstream", "not used in transparent mode")
        return None
    upstream = top.get("upstream", None, optional(as_upstream))
    if mode == "reverse" and upstream is None and not top.errors.at_or_above("upstream"):
        top.error("upstream", "required in reverse mode")
    return upstream


def read_tls(r: SectionReader) -> TLSConfig:
    cert_file, key_file = r.file("cert_file"), r.file("key_file")
    # Judged on the raw values so a missing file is not also reported as "required".
    has_cert, has_key = r.raw("cert_file") is not None, r.raw("key_file") is not None
    if has_cert and not has_key:
        r.error("key_file", f"required when {r.child('cert_file')} is set")
    if has_key and not has_cert:
        r.error("cert_file", f"required when {r.child('key_file')} is set")
    return TLSConfig(cert_file=cert_file, key_file=key_file)


def read_upstream_tls(r: SectionReader) -> UpstreamTLSConfig:
    return UpstreamTLSConfig(verify=r.get("verify", True, as_bool), ca_file=r.file("ca_file"))


def read_store(r: SectionReader, state_dir: Path) -> StoreConfig:
    store = StoreConfig(
        backend=r.get("backend", "sqlite", one_of(STORE_BACKENDS)),
        sqlite_path=r.output_path("sqlite_path", state_dir / "gateway.db"),
        redis_url=r.get("redis_url", "redis://127.0.0.1:6379/0", as_redis_url),
        on_error=r.get("on_error", "deny", one_of(ON_ERROR_CHOICES)),
        fingerprint_key=r.get("fingerprint_key", None, optional(as_fingerprint_key)),
        redis_sentinel=_read_redis_sentinel(r),
        min_replicas_ack=r.get("min_replicas_ack", 0, as_min_replicas_ack),
    )
    _check_redis_only_keys(r, store)
    return store


def _read_redis_sentinel(store: SectionReader) -> RedisSentinelConfig | None:
    value = store.raw("redis_sentinel")
    if value is None:
        return None
    r = store.section("redis_sentinel", RedisSentinelConfig)
    if not isinstance(value, dict):
        return None
    for key in ("hosts", "service"):
        if not r.has(key):
            r.error(key, f"required when {r.path} is set")
    seen: set[tuple[str, int]] = set()

    def unique_host(item: object) -> tuple[str, int]:
        host = as_sentinel_host(item)
        if (host[0].lower(), host[1]) in seen:
            raise ValueError(f"listed twice ({item!r})")
        seen.add((host[0].lower(), host[1]))
        return host

    return RedisSentinelConfig(
        hosts=r.items("hosts", (), unique_host),
        service=r.get("service", "", as_sentinel_service),
    )


def _check_redis_only_keys(r: SectionReader, store: StoreConfig) -> None:
    """The Sentinel and replica-ack keys mean something only to the Redis backend; set
    elsewhere they would promise a durability the store does not give."""
    if r.errors.at_or_above(r.child("backend")):
        return  # an unknown backend: "only with redis" would be noise
    for key in ("redis_sentinel", "min_replicas_ack"):
        if store.backend != "redis" and r.raw(key) not in (None, 0):
            r.error(key, f"only used with {r.child('backend')}: redis (got {store.backend})")
    if (
        store.redis_sentinel is not None
        and store.redis_url.startswith("unix://")
        and not r.errors.at_or_above(r.child("redis_url"))
    ):
        r.error(
            "redis_url",
            f"a unix:// socket cannot be combined with {r.child('redis_sentinel')} "
            "(Sentinel names the primary by host:port; use redis:// or rediss://)",
        )


def read_audit(r: SectionReader, state_dir: Path) -> AuditConfig:
    flood = r.section("flood", AuditFloodConfig)
    return AuditConfig(
        path=r.output_path("path", state_dir / "audit.jsonl"),
        fsync=r.get("fsync", True, as_bool),
        flood=AuditFloodConfig(
            per_client_per_minute=flood.get("per_client_per_minute", 60, as_per_minute)
        ),
    )


def read_sessions(r: SectionReader) -> SessionsConfig:
    seen: set[str] = set()

    def unique_cookie(value: object) -> str:
        name = as_cookie_name(value)
        if name in seen:
            raise ValueError(f"duplicate cookie name {name!r}")
        seen.add(name)
        return name

    return SessionsConfig(
        cookies=r.items("cookies", ("JSESSIONID",), unique_cookie),
        max_lifetime=r.get("max_lifetime", 12 * 3600, positive_duration),
        idle_timeout=r.get("idle_timeout", None, optional(positive_duration)),
        url_parameters=r.get("url_parameters", True, as_bool),
        user_header=r.get("user_header", None, optional(as_header_name)),
    )


def _read_jwt(tokens: SectionReader) -> JWTConfig | None:
    value = tokens.raw("jwt")
    if value is None:
        return None
    r = tokens.section("jwt", JWTConfig)
    if not isinstance(value, dict):
        return None
    for key in ("algorithms", "key_files"):
        if not r.has(key):
            r.error(key, f"required when {r.path} is set")
    algorithms = r.items("algorithms", (), as_jwt_algorithm, indexed=False)
    return JWTConfig(
        algorithms=tuple(dict.fromkeys(algorithms)),
        key_files=r.items("key_files", (), file_converter(r.base_dir)),
        issuer=r.optional_str("issuer"),
        audience=r.get("audience", (), as_audience),
    )


def read_tokens(r: SectionReader) -> TokensConfig:
    return TokensConfig(
        max_lifetime=r.get("max_lifetime", 24 * 3600, positive_duration),
        jwt=_read_jwt(r),
    )


def read_routes(r: SectionReader) -> RoutesConfig:
    """Every route of RoutesConfig, from its own defaults (gateway.config.model)."""
    routes: dict[str, RouteConfig | None] = {}
    explicit: set[str] = set()  # routes whose path the file sets: they get the blame for a clash
    for name, defaults in ROUTE_DEFAULTS.items():
        if r.has(name) and r.raw(name) is None:
            routes[name] = None  # explicitly disabled
            continue
        # A partial mapping merges with the defaults; a bad one leaves the route enabled so
        # the required-when checks still speak about it.
        route = r.section(name, RouteConfig)
        if route.has("path"):
            explicit.add(name)
        path: str | None = None
        if defaults.path is not None:
            path = route.get("path", defaults.path, as_route_path)
        elif route.has("path"):
            # cas_slo is a form field on any path (SPEC §10.1); a path would only mislead.
            route.error("path", "not allowed: this route is matched by content on any path")
        routes[name] = RouteConfig(
            path=path,
            mode=route.get("mode", defaults.mode, one_of(ROUTE_MODES)),
        )
    owners: dict[str, str] = {}
    for name, config in routes.items():
        if config is None or config.path is None or r.errors.at_or_above(f"{r.child(name)}.path"):
            continue
        if config.path in owners:
            first = owners[config.path]
            blamed, other = (first, name) if name not in explicit else (name, first)
            r.error(f"{blamed}.path", f"same path as {r.child(other)} ({config.path!r})")
        else:
            owners[config.path] = name
    return RoutesConfig(**routes)


def read_cas(r: SectionReader) -> CASConfig:
    hosts = r.items("allowed_service_hosts", (), as_host_entry, allow_empty=True)
    slo = r.section("slo", CASSLOConfig)
    sources = slo.items("allowed_sources", (), as_source_network, allow_empty=True)
    return CASConfig(
        server_url=r.get("server_url", None, optional(as_base_url)),
        service_url=r.get("service_url", None, optional(as_url)),
        allowed_service_hosts=tuple(dict.fromkeys(hosts)),
        slo=CASSLOConfig(
            allowed_sources=tuple(dict.fromkeys(sources)),
            front_channel=slo.get("front_channel", False, as_bool),
        ),
    )


def read_saml(r: SectionReader) -> SAMLConfig:
    return SAMLConfig(
        sp_entity_id=r.optional_str("sp_entity_id"),
        idp_entity_id=r.optional_str("idp_entity_id"),
        # The gateway appends ?SAMLRequest=… to it, so a query of its own is refused.
        idp_slo_url=r.get("idp_slo_url", None, optional(as_base_url)),
        sp_slo_url=r.get("sp_slo_url", None, optional(as_url)),
        sign=r.get("sign", True, as_bool),
        sig_alg=r.get("sig_alg", "rsa-sha256", one_of(SIG_ALGS)),
        sp_key_file=r.file("sp_key_file"),
        sp_cert_file=r.file("sp_cert_file"),
        idp_cert_file=r.file("idp_cert_file"),
        clock_skew=r.get("clock_skew", 180, parse_duration),
        sp_acs_url=r.get("sp_acs_url", None, optional(as_url)),
    )


def read_oidc(r: SectionReader) -> OIDCConfig:
    return OIDCConfig(
        # Compared exactly with a logout token's `iss` (OpenID Connect Core §3.1.3.7).
        issuer=r.optional_str("issuer"),
        client_id=r.optional_str("client_id"),
        jwks_file=r.file("jwks_file"),  # its keys are checked at start-up (gateway.oidc.keys)
        end_session_url=r.get("end_session_url", None, optional(as_url)),
        post_logout_redirect_url=r.get("post_logout_redirect_url", None, optional(as_url)),
        principal_claim=r.get("principal_claim", "sub", as_claim_name),
    )


def read_limits(r: SectionReader) -> LimitsConfig:
    max_body = r.get("max_body_bytes", 65536, as_max_body_bytes)
    # Unset: 1 MiB, or max_body_bytes when that is larger (a body the gateway reads is
    # never streamed), so raising max_body_bytes alone never makes a config invalid.
    stream_over = r.get("stream_bodies_over", max(1024 * 1024, max_body), as_stream_bodies_over)
    checked = not any(r.errors.at_or_above(r.child(k)) for k in r.data)
    if stream_over < max_body and checked:
        # A token API answer up to max_body_bytes must reach learning whole.
        r.error(
            "stream_bodies_over",
            f"must be at least limits.max_body_bytes ({max_body}): bodies the gateway "
            "reads are never streamed",
        )
    return LimitsConfig(max_body_bytes=max_body, stream_bodies_over=stream_over)


# `admin.listen: "host:port"` fills two fields; the token is read from token_file.
ADMIN_KEYS = yaml_keys(
    AdminConfig, renamed={"listen_host": "listen", "listen_port": "listen"}, not_in_yaml=("token",)
)
_WILDCARD_HOSTS = ("0.0.0.0", "::")  # noqa: S104 - compared with, never bound


def read_admin(top: SectionReader, public: tuple[str, int] | None) -> AdminConfig:
    """`admin` (SPEC §11). `public`: the proxy's own listen address, None when invalid."""
    r = SectionReader(top.errors, top.base_dir, top.child("admin"), top.raw("admin"), ADMIN_KEYS)
    listen = r.get("listen", None, optional(parse_listen))
    if listen is not None and public is not None:
        (host, port), (public_host, public_port) = listen, public
        # A wildcard address binds the port on every address, the other one's too.
        same_host = host == public_host or host in _WILDCARD_HOSTS or public_host in _WILDCARD_HOSTS
        if port != 0 and port == public_port and same_host:
            r.error(
                "listen",
                f"must differ from the public listen address ({public_host}:{public_port}): "
                "the admin server never shares the proxy's port",
            )
    token = r.get("token_file", None, optional(secret_file_converter(r.base_dir)))
    return AdminConfig(
        listen_host=listen[0] if listen else None,
        listen_port=listen[1] if listen else None,
        token_file=token[0] if token else None,
        token=token[1] if token else None,
    )


def check_required(
    errors: ErrorCollector, routes: RoutesConfig, cas: CASConfig, saml: SAMLConfig
) -> None:
    """cas.* / saml.* keys that are required only while a route needing them is enabled."""
    if "routes" in errors.paths:
        return  # the routes section itself is unusable; its defaults would only add noise

    def require(path: str, value: object, condition: str) -> None:
        if value is None and not errors.at_or_above(path):
            errors.add(path, f"required while {condition}")

    if routes.logout_action is not None:
        require("cas.server_url", cas.server_url, "routes.logout_action is enabled")
    if routes.saml_logout is not None:
        enabled = "routes.saml_logout is enabled"
        require("saml.sp_entity_id", saml.sp_entity_id, enabled)
        require("saml.idp_slo_url", saml.idp_slo_url, enabled)
        if saml.sign:
            require("saml.sp_key_file", saml.sp_key_file, f"{enabled} and saml.sign is true")


def check_oidc_required(errors: ErrorCollector, routes: RoutesConfig, oidc: OIDCConfig) -> None:
    """oidc.* keys required while an OIDC route needs them (SPEC §4.1)."""
    if "routes" in errors.paths or "oidc" in errors.paths:
        return

    def require(key: str, value: object, condition: str) -> None:
        path = f"oidc.{key}"
        if value is None and not errors.at_or_above(path):
            errors.add(path, f"required while {condition}")

    # Judged before any "required" line below is added (they count as errors there).
    trio = {"issuer": oidc.issuer, "client_id": oidc.client_id, "jwks_file": oidc.jwks_file}
    # client_id alone also serves the short_circuit redirect: only the two keys that
    # exist for the back-channel route say an operator meant to set it up.
    meant = [
        k for k in ("issuer", "jwks_file") if trio[k] is not None or errors.at_or_above(f"oidc.{k}")
    ]
    logout = routes.oidc_logout
    if logout is not None and logout.mode == "short_circuit":
        condition = "routes.oidc_logout is in short_circuit mode"
        require("end_session_url", oidc.end_session_url, condition)
        if oidc.post_logout_redirect_url is not None:
            # An OP only honours post_logout_redirect_uri for a client it can identify
            # (OpenID Connect RP-Initiated Logout 1.0 §2; the gateway has no id_token_hint).
            require("client_id", oidc.client_id, f"{condition} with oidc.post_logout_redirect_url")
    if routes.oidc_backchannel is not None:
        # Active only once all three are set; some but not all is a half-done set-up
        # that would silently leave the back-channel path to the upstream.
        if meant:
            for key, value in trio.items():
                require(
                    key,
                    value,
                    f"oidc.{meant[0]} is set and routes.oidc_backchannel is enabled "
                    "(set all of issuer, client_id, jwks_file, or routes.oidc_backchannel: null)",
                )
