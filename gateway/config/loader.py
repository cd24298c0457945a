"""The entry points: a YAML file (`load_config`) or an already parsed document
(`parse_config`) to a validated Config, or a ConfigError listing every problem."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from gateway.config.addresses import parse_listen
from gateway.config.errors import ConfigError, ErrorCollector
from gateway.config.model import (
    LISTEN_MODES,
    ROUTE_DEFAULTS,
    AuditConfig,
    CASConfig,
    Config,
    LimitsConfig,
    ListenMode,
    OIDCConfig,
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
from gateway.config.sections import (
    check_oidc_required,
    check_required,
    read_admin,
    read_audit,
    read_cas,
    read_limits,
    read_oidc,
    read_routes,
    read_saml,
    read_sessions,
    read_store,
    read_tls,
    read_tokens,
    read_upstream,
    read_upstream_tls,
)
from gateway.config.slo_activation import activate_slo_routes
from gateway.config.values import describe, one_of
from gateway.config.yaml_source import duplicate_keys, yaml_error

__all__ = ["load_config", "parse_config"]

# `listen: "host:port"` fills two fields; `source` is where the file was, not a key.
TOP_LEVEL_KEYS = yaml_keys(
    Config,
    renamed={"listen_host": "listen", "listen_port": "listen"},
    not_in_yaml=("source",),
)
# `routes: null` is ambiguous (defaults? nothing?), so it is refused.
_ROUTES_NULL_HINT = "use {} for the defaults, or set a single route to null to disable it"


def parse_config(data: object, base_dir: Path, source: Path | None = None) -> Config:
    """Validate a parsed YAML document (None: all defaults). Relative paths are taken from
    `base_dir`. Raises ConfigError listing every problem."""
    base_dir = Path(os.path.abspath(Path(base_dir).expanduser()))
    errors = ErrorCollector()
    if data is not None and not isinstance(data, dict):
        errors.add("", f"the document must be a mapping of config keys (got {describe(data)})")
        raise ConfigError(errors.lines)

    top = SectionReader(errors, base_dir, "", data, TOP_LEVEL_KEYS)
    listen_host, listen_port = top.get("listen", ("127.0.0.1", 8080), parse_listen)
    mode: ListenMode = top.get("mode", "reverse", one_of(LISTEN_MODES))
    # An invalid mode: neither "required" nor "not used" can be decided for upstream.
    upstream = read_upstream(top, None if "mode" in errors.paths else mode)
    state_dir = top.output_path("state_dir", base_dir / "var", directory=True)

    tls = read_tls(top.section("tls", TLSConfig))
    upstream_tls = read_upstream_tls(top.section("upstream_tls", UpstreamTLSConfig))
    store = read_store(top.section("store", StoreConfig), state_dir)
    audit = read_audit(top.section("audit", AuditConfig), state_dir)
    sessions = read_sessions(top.section("sessions", SessionsConfig))
    tokens = read_tokens(top.section("tokens", TokensConfig))
    routes_section = top.section("routes", RoutesConfig, null_hint=_ROUTES_NULL_HINT)
    routes = read_routes(routes_section)
    cas = read_cas(top.section("cas", CASConfig))
    saml = read_saml(top.section("saml", SAMLConfig))
    limits = read_limits(top.section("limits", LimitsConfig))
    oidc = read_oidc(top.section("oidc", OIDCConfig))
    public = None if "listen" in errors.paths else (listen_host, listen_port)
    admin = read_admin(top, public)
    check_required(errors, routes, cas, saml)
    check_oidc_required(errors, routes, oidc)
    explicit = [name for name in ROUTE_DEFAULTS if routes_section.has(name)]
    routes = activate_slo_routes(errors, routes, explicit, cas, saml)

    if errors.lines:
        raise ConfigError(errors.lines)
    return Config(
        listen_host=listen_host,
        listen_port=listen_port,
        mode=mode,
        upstream=upstream,
        state_dir=state_dir,
        tls=tls,
        upstream_tls=upstream_tls,
        store=store,
        audit=audit,
        sessions=sessions,
        tokens=tokens,
        routes=routes,
        cas=cas,
        saml=saml,
        limits=limits,
        source=None if source is None else Path(os.path.abspath(source)),
        oidc=oidc,
        admin=admin,
    )


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read, parse and validate a config file. Raises ConfigError listing every problem."""
    file = Path(os.path.abspath(Path(path).expanduser()))
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{file}: file not found"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{file}: not a file"]) from None
    except PermissionError:
        raise ConfigError([f"{file}: not readable"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{file}: not UTF-8 text (byte {exc.start})"]) from None
    except OSError as exc:
        raise ConfigError([f"{file}: cannot read: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
        duplicates = duplicate_keys(text)
    except yaml.YAMLError as exc:
        raise ConfigError([yaml_error(file, exc)]) from None
    try:
        config = parse_config(data, file.parent, source=file)
    except ConfigError as exc:
        raise ConfigError(duplicates + exc.errors) from None
    if duplicates:
        raise ConfigError(duplicates)
    return config
