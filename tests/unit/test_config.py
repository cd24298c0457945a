"""Tests for gateway.config: defaults, path resolution, every validation rule, and that all
mistakes are reported at once with their key paths."""

from __future__ import annotations

import dataclasses
import os
import pickle
import textwrap
from pathlib import Path
from typing import Any

import pytest

from gateway.config import (
    Config,
    ConfigError,
    JWTConfig,
    RouteConfig,
    load_config,
    parse_config,
    parse_duration,
)

UPSTREAM = "http://127.0.0.1:9000"
TOKEN_ONLY = "(RFC 6265 token characters only)"


# --------------------------------------------------------------------------- helpers


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `extra` into a copy of `base` (mappings merge, anything else replaces)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def minimal(**extra: Any) -> dict[str, Any]:
    """The smallest valid document: an upstream, and the routes that need cas/saml disabled."""
    base: dict[str, Any] = {
        "upstream": UPSTREAM,
        "routes": {"logout_action": None, "saml_logout": None},
    }
    return merge(base, extra)


def touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def full(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """A valid document with every route enabled and its required keys set."""
    touch(tmp_path / "sp.key")
    base: dict[str, Any] = {
        "upstream": UPSTREAM,
        "cas": {"server_url": "https://cas.example.com:20009/cas"},
        "saml": {
            "sp_entity_id": "https://gw.example.com/sp",
            "idp_slo_url": "https://idp.example.com/slo",
            "sp_key_file": "sp.key",
        },
    }
    return merge(base, extra)


def ok(data: object, base_dir: Path) -> Config:
    return parse_config(data, base_dir)


def errors_of(data: object, base_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, base_dir)
    return info.value.errors


def one_error(data: object, base_dir: Path) -> str:
    errors = errors_of(data, base_dir)
    assert len(errors) == 1, errors
    return errors[0]


def write_config(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# --------------------------------------------------------------------------- parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0),
        (45, 45),
        ("45", 45),
        ("90s", 90),
        ("30m", 1800),
        ("12h", 43200),
        ("2d", 172800),
        (" 3m ", 180),
        ("0s", 0),
    ],
)
def test_parse_duration_accepts(value: object, seconds: int) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value",
    [True, False, None, 1.5, -1, "-5s", "12x", "", "h", "1.5h", "12 h", "12H", "1h30m", [1], {}],
)
def test_parse_duration_refuses(value: object) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(value)


def test_parse_duration_messages() -> None:
    with pytest.raises(ValueError) as info:
        parse_duration("12x")
    assert str(info.value) == "invalid duration '12x' (use seconds or a number with s, m, h or d)"
    with pytest.raises(ValueError, match="must not be negative"):
        parse_duration(-3)
    with pytest.raises(ValueError, match="got true"):
        parse_duration(True)
    with pytest.raises(ValueError, match="100 years"):
        parse_duration("999999999d")


# --------------------------------------------------------------------------- defaults


def test_all_defaults(tmp_path: Path) -> None:
    config = ok(minimal(), tmp_path)
    assert config.listen_host == "127.0.0.1"
    assert config.listen_port == 8080
    assert config.mode == "reverse"
    assert config.upstream == UPSTREAM
    assert config.state_dir == tmp_path / "var"
    assert config.tls.cert_file is None and config.tls.key_file is None
    assert config.upstream_tls.verify is True and config.upstream_tls.ca_file is None
    assert config.store.backend == "sqlite"
    assert config.store.sqlite_path == tmp_path / "var" / "gateway.db"
    assert config.store.redis_url == "redis://127.0.0.1:6379/0"
    assert config.store.on_error == "deny"
    assert config.store.fingerprint_key is None
    assert config.audit.path == tmp_path / "var" / "audit.jsonl"
    assert config.audit.fsync is True
    assert config.sessions.cookies == ("JSESSIONID",)
    assert config.sessions.max_lifetime == 12 * 3600
    assert config.sessions.idle_timeout is None
    assert config.sessions.url_parameters is True
    assert config.audit.flood.per_client_per_minute == 60
    assert config.tokens.max_lifetime == 24 * 3600
    assert config.tokens.jwt is None
    assert config.routes.cas_logout == RouteConfig("/cas/logout", "short_circuit")
    assert config.routes.logout_action is None
    assert config.routes.saml_logout is None
    assert config.cas.server_url is None
    assert config.cas.service_url is None
    assert config.cas.allowed_service_hosts == ()
    assert config.saml.sp_entity_id is None
    assert config.saml.idp_entity_id is None
    assert config.saml.idp_slo_url is None
    assert config.saml.sp_slo_url is None
    assert config.saml.sign is True
    assert config.saml.sig_alg == "rsa-sha256"
    assert config.saml.sp_key_file is None
    assert config.saml.sp_cert_file is None
    assert config.saml.idp_cert_file is None
    assert config.saml.clock_skew == 180
    assert config.saml.sp_acs_url is None
    assert config.limits.max_body_bytes == 65536
    assert config.source is None


def test_default_routes_when_requirements_met(tmp_path: Path) -> None:
    config = ok(full(tmp_path), tmp_path)
    assert config.routes.cas_logout == RouteConfig("/cas/logout", "short_circuit")
    assert config.routes.logout_action == RouteConfig("/web/v1/logout_action", "short_circuit")
    assert config.routes.saml_logout == RouteConfig("/_security/saml/logout", "short_circuit")
    assert config.saml.sp_key_file == tmp_path / "sp.key"


def test_none_document_reports_what_the_defaults_lack(tmp_path: Path) -> None:
    assert errors_of(None, tmp_path) == [
        "upstream: required in reverse mode",
        "cas.server_url: required while routes.logout_action is enabled",
        "saml.sp_entity_id: required while routes.saml_logout is enabled",
        "saml.idp_slo_url: required while routes.saml_logout is enabled",
        "saml.sp_key_file: required while routes.saml_logout is enabled and saml.sign is true",
    ]


def test_empty_file_is_the_defaults(tmp_path: Path) -> None:
    path = write_config(tmp_path, "")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.errors == errors_of(None, tmp_path)
    # The same file plus the two things the defaults cannot know is valid.
    path = write_config(
        tmp_path,
        """\
        upstream: http://127.0.0.1:9000
        routes: {logout_action: null, saml_logout: null}
        """,
    )
    assert load_config(path) == dataclasses.replace(ok(minimal(), tmp_path), source=path)


def test_comment_only_file_is_the_defaults(tmp_path: Path) -> None:
    path = write_config(tmp_path, "# nothing here\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.errors[0] == "upstream: required in reverse mode"


def test_empty_sections_mean_defaults(tmp_path: Path) -> None:
    data = minimal(tls=None, store=None, audit=None, sessions=None, limits=None, cas=None)
    assert ok(data, tmp_path) == ok(minimal(), tmp_path)


def test_config_is_frozen(tmp_path: Path) -> None:
    config = ok(minimal(), tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.listen_port = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.store.backend = "memory"  # type: ignore[misc]


# --------------------------------------------------------------------------- paths


def test_relative_paths_resolve_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf_dir = tmp_path / "etc" / "gw"
    for name in ("tls.crt", "tls.key", "ca.pem", "sp.key", "sp.crt", "idp.crt", "jwt.pem"):
        touch(conf_dir / "keys" / name)
    path = write_config(
        conf_dir,
        """\
        upstream: https://cluster.example.com:9443/
        state_dir: state
        tls: {cert_file: keys/tls.crt, key_file: ./keys/tls.key}
        upstream_tls: {ca_file: keys/ca.pem}
        store: {sqlite_path: db/gw.db}
        audit: {path: ../audit/audit.jsonl}
        tokens:
          jwt: {algorithms: [RS256], key_files: [keys/jwt.pem]}
        cas: {server_url: "https://cas.example.com/cas/"}
        saml:
          sp_entity_id: gw
          idp_slo_url: https://idp.example.com/slo
          sp_key_file: keys/sp.key
          sp_cert_file: keys/sp.crt
          idp_cert_file: keys/idp.crt
        """,
    )
    # The working directory must not matter.
    monkeypatch.chdir(tmp_path)
    config = load_config(os.path.relpath(path, tmp_path))
    keys = conf_dir / "keys"
    assert config.source == path
    assert config.state_dir == conf_dir / "state"
    assert config.tls.cert_file == keys / "tls.crt"
    assert config.tls.key_file == keys / "tls.key"
    assert config.upstream_tls.ca_file == keys / "ca.pem"
    assert config.store.sqlite_path == conf_dir / "db" / "gw.db"
    assert config.audit.path == tmp_path / "etc" / "audit" / "audit.jsonl"
    assert config.tokens.jwt == JWTConfig(("RS256",), (keys / "jwt.pem",), None, ())
    assert config.saml.sp_key_file == keys / "sp.key"
    assert config.saml.sp_cert_file == keys / "sp.crt"
    assert config.saml.idp_cert_file == keys / "idp.crt"
    assert config.upstream == "https://cluster.example.com:9443"
    assert config.cas.server_url == "https://cas.example.com/cas"


def test_db_and_audit_default_into_state_dir(tmp_path: Path) -> None:
    config = ok(minimal(state_dir="/srv/gw"), tmp_path)
    assert config.state_dir == Path("/srv/gw")
    assert config.store.sqlite_path == Path("/srv/gw/gateway.db")
    assert config.audit.path == Path("/srv/gw/audit.jsonl")


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    key = touch(tmp_path / "elsewhere" / "sp.key")
    config = ok(full(tmp_path, saml={"sp_key_file": str(key)}), tmp_path / "conf")
    assert config.saml.sp_key_file == key


def test_tilde_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    touch(tmp_path / "home" / "sp.key")
    config = ok(full(tmp_path, state_dir="~/gw", saml={"sp_key_file": "~/sp.key"}), tmp_path)
    assert config.state_dir == tmp_path / "home" / "gw"
    assert config.saml.sp_key_file == tmp_path / "home" / "sp.key"


def test_relative_base_dir_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = ok(minimal(), Path("conf"))
    assert config.state_dir == tmp_path / "conf" / "var"


def test_missing_file(tmp_path: Path) -> None:
    error = one_error(full(tmp_path, saml={"sp_key_file": "nope.pem"}), tmp_path)
    assert error == f"saml.sp_key_file: file not found: {tmp_path / 'nope.pem'}"


def test_file_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    error = one_error(full(tmp_path, saml={"sp_key_file": "keys"}), tmp_path)
    assert error == f"saml.sp_key_file: not a file: {tmp_path / 'keys'}"


def test_file_under_a_regular_file_is_not_found(tmp_path: Path) -> None:
    touch(tmp_path / "plain")
    error = one_error(minimal(upstream_tls={"ca_file": "plain/ca.pem"}), tmp_path)
    assert error == f"upstream_tls.ca_file: file not found: {tmp_path / 'plain' / 'ca.pem'}"


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = touch(tmp_path / "sp.key")
    real_open = Path.open

    # Simulated: chmod 000 does not stop root, which CI containers often are.
    def guarded_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == secret:
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    data = full(tmp_path)
    monkeypatch.setattr(Path, "open", guarded_open)
    error = one_error(data, tmp_path)
    assert error == f"saml.sp_key_file: not readable: {secret}"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_for_real(tmp_path: Path) -> None:
    secret = touch(tmp_path / "sp.key")
    secret.chmod(0)
    error = one_error(full(tmp_path), tmp_path)
    assert error == f"saml.sp_key_file: not readable: {secret}"


@pytest.mark.parametrize("value", ["", 5, ["a"], "a\x00b"])
def test_bad_path_values(tmp_path: Path, value: object) -> None:
    error = one_error(minimal(state_dir=value), tmp_path)
    assert error.startswith("state_dir: ")


def test_state_dir_must_not_be_a_file(tmp_path: Path) -> None:
    touch(tmp_path / "var")
    assert one_error(minimal(), tmp_path) == f"state_dir: not a directory: {tmp_path / 'var'}"


def test_output_files_must_not_be_directories(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    errors = errors_of(minimal(store={"sqlite_path": "d"}, audit={"path": "d"}), tmp_path)
    assert errors == [
        f"store.sqlite_path: is a directory: {tmp_path / 'd'}",
        f"audit.path: is a directory: {tmp_path / 'd'}",
    ]


# --------------------------------------------------------------------------- structure


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    error = one_error(["listen"], tmp_path)
    assert error == "(top level): the document must be a mapping of config keys (got a list)"
    assert one_error("hello", tmp_path).startswith("(top level): ")


def test_unknown_keys_at_every_level(tmp_path: Path) -> None:
    data: dict[Any, Any] = full(
        tmp_path,
        bogus=1,
        sessions={"bogus": 1, "cookeis": ["a"]},
        routes={"cas_logout": {"methd": "POST"}, "extra_route": None},
        tokens={"jwt": {"algorithms": ["RS256"], "key_files": ["sp.key"], "issuer_": "x"}},
    )
    data[1] = "numeric key"
    assert errors_of(data, tmp_path) == [
        "bogus: unknown key",
        "1: unknown key",
        "sessions.bogus: unknown key",
        "sessions.cookeis: unknown key (did you mean 'cookies'?)",
        "tokens.jwt.issuer_: unknown key (did you mean 'issuer'?)",
        "routes.extra_route: unknown key",
        "routes.cas_logout.methd: unknown key",
    ]


@pytest.mark.parametrize(
    "section", ["tls", "upstream_tls", "store", "audit", "sessions", "tokens", "cas", "saml"]
)
def test_sections_must_be_mappings(tmp_path: Path, section: str) -> None:
    error = one_error(minimal(**{section: ["x"]}), tmp_path)
    assert error == f"{section}: must be a mapping (got a list)"


def test_routes_null_is_refused(tmp_path: Path) -> None:
    errors = errors_of(minimal(routes=None), tmp_path)
    assert errors == [
        "routes: must be a mapping (got null); use {} for the defaults, "
        "or set a single route to null to disable it"
    ]


# --------------------------------------------------------------------------- listen / mode


@pytest.mark.parametrize(
    ("value", "host", "port"),
    [
        ("127.0.0.1:8080", "127.0.0.1", 8080),
        ("0.0.0.0:0", "0.0.0.0", 0),
        ("localhost:65535", "localhost", 65535),
        ("gw-1.cluster.internal:443", "gw-1.cluster.internal", 443),
        ("[::1]:8080", "::1", 8080),
        ("[::]:80", "::", 80),
    ],
)
def test_listen_accepts(tmp_path: Path, value: str, host: str, port: int) -> None:
    config = ok(minimal(listen=value), tmp_path)
    assert (config.listen_host, config.listen_port) == (host, port)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (8080, 'must be a string "host:port" (got 8080)'),
        (None, 'must be a string "host:port" (got null)'),
        ("localhost", 'must be "host:port"'),
        ("::1:8080", "IPv6 addresses must be in brackets"),
        (":8080", "missing host"),
        ("host:65536", "port must be between 0 and 65535"),
        ("host:-1", "invalid port '-1'"),
        ("host:", "invalid port ''"),
        ("host:80a", "invalid port"),
        ("[::1]", 'must be "host:port"'),
        ("[::1:80", "missing ']'"),
        ("[nope]:80", "invalid IPv6 address"),
        ("bad host:80", "invalid host"),
        ("300.1.1.1:80", "invalid host"),
    ],
)
def test_listen_refuses(tmp_path: Path, value: object, problem: str) -> None:
    error = one_error(minimal(listen=value), tmp_path)
    assert error.startswith("listen: ")
    assert problem in error


def test_mode_must_be_known(tmp_path: Path) -> None:
    error = one_error(minimal(mode="forward"), tmp_path)
    assert error == "mode: must be one of reverse, transparent (got 'forward')"


def test_unknown_mode_does_not_also_complain_about_upstream(tmp_path: Path) -> None:
    data = minimal(mode="bridge")
    del data["upstream"]
    assert errors_of(data, tmp_path) == ["mode: must be one of reverse, transparent (got 'bridge')"]


def test_transparent_mode(tmp_path: Path) -> None:
    data = minimal(mode="transparent")
    del data["upstream"]
    config = ok(data, tmp_path)
    assert config.mode == "transparent" and config.upstream is None
    assert ok(merge(data, {"upstream": None}), tmp_path).upstream is None


def test_transparent_mode_refuses_an_upstream(tmp_path: Path) -> None:
    error = one_error(minimal(mode="transparent"), tmp_path)
    assert error == "upstream: not used in transparent mode"


def test_upstream_required_in_reverse_mode(tmp_path: Path) -> None:
    data = minimal()
    del data["upstream"]
    assert one_error(data, tmp_path) == "upstream: required in reverse mode"
    assert one_error(minimal(upstream=None), tmp_path) == "upstream: required in reverse mode"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("http://127.0.0.1:9000/", "http://127.0.0.1:9000"),
        ("https://cluster.example.com", "https://cluster.example.com"),
        ("HTTPS://Cluster.example.com:8443/", "https://Cluster.example.com:8443"),
        ("http://[::1]:9000/", "http://[::1]:9000"),
    ],
)
def test_upstream_accepts(tmp_path: Path, value: str, expected: str) -> None:
    assert ok(minimal(upstream=value), tmp_path).upstream == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("127.0.0.1:9000", "must be an absolute http:// or https:// URL"),
        ("ftp://host", "must be an absolute http:// or https:// URL"),
        ("http://", "must have a valid host"),
        ("http:///path", "must have a valid host"),
        ("http://user:pw@host", "must not contain user info"),
        ("http://host/api", "must not have a path (got '/api')"),
        ("http://host/?a=b", "must not have a query"),
        ("http://host?", "must not have a query"),
        ("http://host/#x", "must not have a fragment"),
        ("http://host:99999", "invalid URL"),
        ("http://host:0", "invalid port 0"),
        ("http://ho st", "must not contain whitespace"),
        ("http://host\\@evil", "backslashes"),
        ("", "must not be empty"),
        (9000, "must be a URL string (got 9000)"),
    ],
)
def test_upstream_refuses(tmp_path: Path, value: object, problem: str) -> None:
    error = one_error(minimal(upstream=value), tmp_path)
    assert error.startswith("upstream: ")
    assert problem in error


# --------------------------------------------------------------------------- tls


def test_tls_pair(tmp_path: Path) -> None:
    touch(tmp_path / "c.pem")
    touch(tmp_path / "k.pem")
    config = ok(minimal(tls={"cert_file": "c.pem", "key_file": "k.pem"}), tmp_path)
    assert config.tls.cert_file == tmp_path / "c.pem"
    assert config.tls.key_file == tmp_path / "k.pem"


def test_tls_needs_both_files(tmp_path: Path) -> None:
    touch(tmp_path / "c.pem")
    assert one_error(minimal(tls={"cert_file": "c.pem"}), tmp_path) == (
        "tls.key_file: required when tls.cert_file is set"
    )
    touch(tmp_path / "k.pem")
    assert one_error(minimal(tls={"key_file": "k.pem", "cert_file": None}), tmp_path) == (
        "tls.cert_file: required when tls.key_file is set"
    )


def test_tls_missing_file_is_not_also_reported_as_unpaired(tmp_path: Path) -> None:
    touch(tmp_path / "k.pem")
    error = one_error(minimal(tls={"cert_file": "c.pem", "key_file": "k.pem"}), tmp_path)
    assert error == f"tls.cert_file: file not found: {tmp_path / 'c.pem'}"


@pytest.mark.parametrize(
    ("section", "key"),
    [("upstream_tls", "verify"), ("audit", "fsync"), ("saml", "sign")],
)
@pytest.mark.parametrize("value", ["true", "false", "yes", 1, 0, None])
def test_booleans_are_yaml_booleans_only(
    tmp_path: Path, section: str, key: str, value: object
) -> None:
    error = one_error(minimal(**{section: {key: value}}), tmp_path)
    assert error.startswith(f"{section}.{key}: must be true or false (got ")


def test_booleans(tmp_path: Path) -> None:
    config = ok(
        minimal(upstream_tls={"verify": False}, audit={"fsync": False}, saml={"sign": False}),
        tmp_path,
    )
    assert config.upstream_tls.verify is False
    assert config.audit.fsync is False
    assert config.saml.sign is False


# --------------------------------------------------------------------------- store


@pytest.mark.parametrize("backend", ["memory", "sqlite", "redis"])
def test_store_backends(tmp_path: Path, backend: str) -> None:
    assert ok(minimal(store={"backend": backend}), tmp_path).store.backend == backend


def test_store_backend_unknown(tmp_path: Path) -> None:
    error = one_error(minimal(store={"backend": "mysql"}), tmp_path)
    assert error == "store.backend: must be one of memory, sqlite, redis (got 'mysql')"


@pytest.mark.parametrize(
    "url", ["redis://10.0.0.5:6379/2", "rediss://:pw@redis.example.com/0", "unix:///run/r.sock"]
)
def test_redis_url_accepts(tmp_path: Path, url: str) -> None:
    assert ok(minimal(store={"redis_url": url}), tmp_path).store.redis_url == url


@pytest.mark.parametrize("url", ["http://redis:6379", "10.0.0.5:6379", "", 6379])
def test_redis_url_refuses(tmp_path: Path, url: object) -> None:
    error = one_error(minimal(store={"redis_url": url}), tmp_path)
    assert error == "store.redis_url: must be a string starting with redis://, rediss:// or unix://"


def test_on_error(tmp_path: Path) -> None:
    assert ok(minimal(store={"on_error": "allow"}), tmp_path).store.on_error == "allow"
    error = one_error(minimal(store={"on_error": "open"}), tmp_path)
    assert error == "store.on_error: must be one of deny, allow (got 'open')"


def test_fingerprint_key(tmp_path: Path) -> None:
    key = "0123456789abcdef" * 4
    config = ok(minimal(store={"fingerprint_key": key}), tmp_path)
    assert config.store.fingerprint_key == key
    # A secret must not end up in logs through repr().
    assert key not in repr(config)


@pytest.mark.parametrize(
    ("value", "problem"), [("s3cret-but-short", "at least 32"), (12345, "string")]
)
def test_fingerprint_key_refused_without_echo(tmp_path: Path, value: object, problem: str) -> None:
    error = one_error(minimal(store={"fingerprint_key": value}), tmp_path)
    assert error.startswith("store.fingerprint_key: ")
    assert problem in error
    assert str(value) not in error


def test_fingerprint_key_message(tmp_path: Path) -> None:
    error = one_error(minimal(store={"fingerprint_key": "x" * 31}), tmp_path)
    assert error == "store.fingerprint_key: must be at least 32 characters"


# --------------------------------------------------------------------------- sessions


def test_sessions(tmp_path: Path) -> None:
    config = ok(
        minimal(
            sessions={
                "cookies": ["JSESSIONID", "__Host-sid"],
                "max_lifetime": "2d",
                "idle_timeout": "30m",
            }
        ),
        tmp_path,
    )
    assert config.sessions.cookies == ("JSESSIONID", "__Host-sid")
    assert config.sessions.max_lifetime == 2 * 86400
    assert config.sessions.idle_timeout == 1800


@pytest.mark.parametrize(
    ("cookies", "expected"),
    [
        ([], ["sessions.cookies: must not be empty"]),
        ("JSESSIONID", ["sessions.cookies: must be a list (got 'JSESSIONID')"]),
        (None, ["sessions.cookies: must be a list (got null)"]),
        (
            ["ok", "bad name", "a;b", "", 5],
            [
                f"sessions.cookies[1]: invalid cookie name 'bad name' {TOKEN_ONLY}",
                f"sessions.cookies[2]: invalid cookie name 'a;b' {TOKEN_ONLY}",
                f"sessions.cookies[3]: invalid cookie name '' {TOKEN_ONLY}",
                "sessions.cookies[4]: must be a cookie name string (got 5)",
            ],
        ),
        (["a", "b", "a"], ["sessions.cookies[2]: duplicate cookie name 'a'"]),
        (
            ["b c", "a", "a"],
            [
                f"sessions.cookies[0]: invalid cookie name 'b c' {TOKEN_ONLY}",
                "sessions.cookies[2]: duplicate cookie name 'a'",
            ],
        ),
    ],
)
def test_session_cookies_refused(tmp_path: Path, cookies: object, expected: list[str]) -> None:
    assert errors_of(minimal(sessions={"cookies": cookies}), tmp_path) == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (0, "must be greater than 0"),
        ("0h", "must be greater than 0"),
        (-1, "must not be negative"),
        (True, "invalid duration"),
        ("12x", "invalid duration '12x' (use seconds or a number with s, m, h or d)"),
        (None, "invalid duration: got null"),
    ],
)
def test_session_max_lifetime_refused(tmp_path: Path, value: object, problem: str) -> None:
    error = one_error(minimal(sessions={"max_lifetime": value}), tmp_path)
    assert error == f"sessions.max_lifetime: {problem}" or (
        error.startswith("sessions.max_lifetime: ") and problem in error
    )


def test_idle_timeout(tmp_path: Path) -> None:
    assert ok(minimal(sessions={"idle_timeout": None}), tmp_path).sessions.idle_timeout is None
    assert ok(minimal(sessions={"idle_timeout": 900}), tmp_path).sessions.idle_timeout == 900
    error = one_error(minimal(sessions={"idle_timeout": 0}), tmp_path)
    assert error == "sessions.idle_timeout: must be greater than 0"


# --------------------------------------------------------------------------- tokens


def test_tokens_max_lifetime(tmp_path: Path) -> None:
    assert ok(minimal(tokens={"max_lifetime": "90s"}), tmp_path).tokens.max_lifetime == 90
    error = one_error(minimal(tokens={"max_lifetime": 0}), tmp_path)
    assert error == "tokens.max_lifetime: must be greater than 0"


def test_jwt_full(tmp_path: Path) -> None:
    touch(tmp_path / "a.pem")
    touch(tmp_path / "jwks.json")
    jwt = {
        "algorithms": ["RS256", "ES256", "EdDSA", "RS256"],
        "key_files": ["a.pem", "jwks.json"],
        "issuer": "https://issuer.example.com",
        "audience": ["gw", "api"],
    }
    config = ok(minimal(tokens={"jwt": jwt}), tmp_path)
    assert config.tokens.jwt == JWTConfig(
        algorithms=("RS256", "ES256", "EdDSA"),
        key_files=(tmp_path / "a.pem", tmp_path / "jwks.json"),
        issuer="https://issuer.example.com",
        audience=("gw", "api"),
    )


@pytest.mark.parametrize(
    ("audience", "expected"), [("gw", ("gw",)), (["a"], ("a",)), ([], ()), (None, ())]
)
def test_jwt_audience(tmp_path: Path, audience: object, expected: tuple[str, ...]) -> None:
    touch(tmp_path / "a.pem")
    jwt = {"algorithms": ["RS256"], "key_files": ["a.pem"], "audience": audience}
    jwt_config = ok(minimal(tokens={"jwt": jwt}), tmp_path).tokens.jwt
    assert jwt_config is not None and jwt_config.audience == expected


def test_jwt_refusals(tmp_path: Path) -> None:
    touch(tmp_path / "a.pem")
    jwt = {
        "algorithms": ["none", "HS256", "hs512", "rs256", "XYZ", 7],
        "key_files": ["a.pem", "missing.pem"],
        "issuer": "",
        "audience": [1],
    }
    errors = errors_of(minimal(tokens={"jwt": jwt}), tmp_path)
    assert errors == [
        "tokens.jwt.algorithms: 'none' is never accepted",
        "tokens.jwt.algorithms: HS256: HMAC algorithms are not supported (public keys only)",
        "tokens.jwt.algorithms: hs512: HMAC algorithms are not supported (public keys only)",
        "tokens.jwt.algorithms: unsupported algorithm 'rs256' (did you mean 'RS256'?); "
        "use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA",
        "tokens.jwt.algorithms: unsupported algorithm 'XYZ'; "
        "use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA",
        "tokens.jwt.algorithms: must be a list of algorithm names (got 7)",
        f"tokens.jwt.key_files[1]: file not found: {tmp_path / 'missing.pem'}",
        "tokens.jwt.issuer: must not be empty (use null to leave it unset)",
        "tokens.jwt.audience: must be a string or a list of non-empty strings (got a list)",
    ]


def test_jwt_none_in_any_case(tmp_path: Path) -> None:
    touch(tmp_path / "a.pem")
    jwt = {"algorithms": ["NONE"], "key_files": ["a.pem"]}
    error = one_error(minimal(tokens={"jwt": jwt}), tmp_path)
    assert error == "tokens.jwt.algorithms: 'none' is never accepted"


def test_jwt_required_keys(tmp_path: Path) -> None:
    assert errors_of(minimal(tokens={"jwt": {}}), tmp_path) == [
        "tokens.jwt.algorithms: required when tokens.jwt is set",
        "tokens.jwt.key_files: required when tokens.jwt is set",
    ]
    errors = errors_of(minimal(tokens={"jwt": {"algorithms": [], "key_files": []}}), tmp_path)
    assert errors == [
        "tokens.jwt.algorithms: must not be empty",
        "tokens.jwt.key_files: must not be empty",
    ]


def test_jwt_must_be_a_mapping(tmp_path: Path) -> None:
    error = one_error(minimal(tokens={"jwt": "RS256"}), tmp_path)
    assert error == "tokens.jwt: must be a mapping (got 'RS256')"


# --------------------------------------------------------------------------- routes


def test_route_partial_mapping_merges_with_defaults(tmp_path: Path) -> None:
    data = full(tmp_path, routes={"cas_logout": {"mode": "forward"}, "saml_logout": {}})
    config = ok(data, tmp_path)
    assert config.routes.cas_logout == RouteConfig("/cas/logout", "forward")
    assert config.routes.logout_action == RouteConfig("/web/v1/logout_action", "short_circuit")
    assert config.routes.saml_logout == RouteConfig("/_security/saml/logout", "short_circuit")


def test_route_null_disables_only_that_route(tmp_path: Path) -> None:
    config = ok(full(tmp_path, routes={"saml_logout": None}), tmp_path)
    assert config.routes.saml_logout is None
    assert config.routes.cas_logout is not None
    assert config.routes.logout_action is not None


def test_all_routes_disabled(tmp_path: Path) -> None:
    routes = {"cas_logout": None, "logout_action": None, "saml_logout": None}
    config = ok(minimal(routes=routes), tmp_path)
    assert config.routes.cas_logout is None


def test_route_custom_path_is_normalised(tmp_path: Path) -> None:
    routes = {"cas_logout": {"path": "/api//cas/logout/", "mode": "forward"}}
    config = ok(minimal(routes=routes), tmp_path)
    assert config.routes.cas_logout == RouteConfig("/api/cas/logout", "forward")


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("cas/logout", "must start with '/'"),
        ("/cas/logout?x=1", "without '?' or '#'"),
        ("/cas/logout#x", "without '?' or '#'"),
        ("/cas%2Flogout", "without '%' or ';'"),
        ("/cas/logout;jsessionid=1", "without '%' or ';'"),
        ("/cas/log out", "printable ASCII"),
        ("/café", "printable ASCII"),
        (5, "must be a string (got 5)"),
    ],
)
def test_route_path_refused(tmp_path: Path, path: object, problem: str) -> None:
    error = one_error(minimal(routes={"cas_logout": {"path": path}}), tmp_path)
    assert error.startswith("routes.cas_logout.path: ")
    assert problem in error


def test_route_mode_refused(tmp_path: Path) -> None:
    error = one_error(minimal(routes={"cas_logout": {"mode": "proxy"}}), tmp_path)
    assert error == "routes.cas_logout.mode: must be one of short_circuit, forward (got 'proxy')"


def test_route_must_be_mapping_or_null(tmp_path: Path) -> None:
    error = one_error(minimal(routes={"cas_logout": "/cas/logout"}), tmp_path)
    assert error == "routes.cas_logout: must be a mapping (got '/cas/logout')"


def test_duplicate_route_paths(tmp_path: Path) -> None:
    routes = {"logout_action": {"path": "/cas/logout/"}}
    error = one_error(full(tmp_path, routes=routes), tmp_path)
    assert error == "routes.logout_action.path: same path as routes.cas_logout ('/cas/logout')"
    # The route whose path the file sets is blamed, even when it comes first.
    routes = {"cas_logout": {"path": "/_security/saml/logout"}}
    error = one_error(full(tmp_path, routes=routes), tmp_path)
    assert error == (
        "routes.cas_logout.path: same path as routes.saml_logout ('/_security/saml/logout')"
    )


def test_duplicate_path_with_a_disabled_route_is_fine(tmp_path: Path) -> None:
    routes = {"cas_logout": None, "logout_action": None, "saml_logout": {"path": "/cas/logout"}}
    data = full(tmp_path, routes=routes)
    assert ok(data, tmp_path).routes.saml_logout == RouteConfig("/cas/logout", "short_circuit")


# --------------------------------------------------------------------------- required-when


def test_logout_action_needs_cas_server_url(tmp_path: Path) -> None:
    data = full(tmp_path, cas={"server_url": None})
    assert errors_of(data, tmp_path) == [
        "cas.server_url: required while routes.logout_action is enabled"
    ]
    assert ok(merge(data, {"routes": {"logout_action": None}}), tmp_path).cas.server_url is None


def test_saml_logout_needs_saml_keys(tmp_path: Path) -> None:
    data = full(tmp_path, saml={"sp_entity_id": None, "idp_slo_url": None, "sp_key_file": None})
    assert errors_of(data, tmp_path) == [
        "saml.sp_entity_id: required while routes.saml_logout is enabled",
        "saml.idp_slo_url: required while routes.saml_logout is enabled",
        "saml.sp_key_file: required while routes.saml_logout is enabled and saml.sign is true",
    ]
    ok(merge(data, {"routes": {"saml_logout": None}}), tmp_path)


def test_unsigned_saml_needs_no_key(tmp_path: Path) -> None:
    config = ok(full(tmp_path, saml={"sign": False, "sp_key_file": None}), tmp_path)
    assert config.saml.sign is False and config.saml.sp_key_file is None


def test_invalid_required_value_is_reported_once(tmp_path: Path) -> None:
    data = full(tmp_path, cas={"server_url": "cas.example.com"}, saml={"sp_key_file": "no.pem"})
    errors = errors_of(data, tmp_path)
    assert len(errors) == 2
    assert errors[0].startswith("cas.server_url: must be an absolute http:// or https:// URL")
    assert errors[1] == f"saml.sp_key_file: file not found: {tmp_path / 'no.pem'}"


def test_broken_saml_section_is_not_also_reported_as_missing_keys(tmp_path: Path) -> None:
    data = full(tmp_path)
    data["saml"] = "oops"
    assert errors_of(data, tmp_path) == ["saml: must be a mapping (got 'oops')"]


# --------------------------------------------------------------------------- cas


def test_cas(tmp_path: Path) -> None:
    cas = {
        "server_url": "https://cas.example.com:20009/cas/",
        "service_url": "https://manager.example.com/web/index.html?lang=en",
        "allowed_service_hosts": [
            "Manager.Example.com",
            "manager.example.com:20026",
            "10.0.0.1",
            "[::1]:8443",
            "manager.example.com",
        ],
    }
    config = ok(full(tmp_path, cas=cas), tmp_path)
    assert config.cas.server_url == "https://cas.example.com:20009/cas"
    assert config.cas.service_url == "https://manager.example.com/web/index.html?lang=en"
    assert config.cas.allowed_service_hosts == (
        "manager.example.com",
        "manager.example.com:20026",
        "10.0.0.1",
        "[::1]:8443",
    )


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("server_url", "https://cas.example.com/cas?x=1", "must not have a query"),
        ("server_url", "https://cas.example.com/cas#x", "must not have a fragment"),
        ("server_url", "cas.example.com/cas", "must be an absolute http:// or https:// URL"),
        ("server_url", "https://u@cas.example.com/cas", "must not contain user info"),
        ("service_url", "javascript:alert(1)", "must be an absolute http:// or https:// URL"),
        ("service_url", "https://m.example.com/#frag", "must not have a fragment"),
        ("service_url", "//m.example.com/", "must be an absolute http:// or https:// URL"),
    ],
)
def test_cas_urls_refused(tmp_path: Path, key: str, value: str, problem: str) -> None:
    error = one_error(full(tmp_path, cas={key: value}), tmp_path)
    assert error.startswith(f"cas.{key}: ")
    assert problem in error


def test_allowed_service_hosts_refused(tmp_path: Path) -> None:
    hosts = ["ok.example.com", "https://x.example.com", "x:0", "x:70000", "a b", "::1", 5, ""]
    errors = errors_of(minimal(cas={"allowed_service_hosts": hosts}), tmp_path)
    assert [e.split(":", 1)[0] for e in errors] == [
        f"cas.allowed_service_hosts[{i}]" for i in range(1, 8)
    ]
    assert "without scheme or path" in errors[0]
    assert "port must be between 1 and 65535" in errors[1]
    assert "IPv6 addresses must be in brackets" in errors[4]
    error = one_error(minimal(cas={"allowed_service_hosts": "x.example.com"}), tmp_path)
    assert error == "cas.allowed_service_hosts: must be a list (got 'x.example.com')"


# --------------------------------------------------------------------------- saml


def test_saml(tmp_path: Path) -> None:
    touch(tmp_path / "sp.crt")
    touch(tmp_path / "idp.crt")
    saml = {
        "idp_entity_id": "https://idp.example.com",
        "sp_slo_url": "https://gw.example.com/saml/slo?x=1",
        "sig_alg": "ecdsa-sha256",
        "sp_cert_file": "sp.crt",
        "idp_cert_file": "idp.crt",
        "clock_skew": "5m",
    }
    config = ok(full(tmp_path, saml=saml), tmp_path)
    assert config.saml.sp_entity_id == "https://gw.example.com/sp"
    assert config.saml.idp_entity_id == "https://idp.example.com"
    assert config.saml.idp_slo_url == "https://idp.example.com/slo"
    assert config.saml.sp_slo_url == "https://gw.example.com/saml/slo?x=1"
    assert config.saml.sig_alg == "ecdsa-sha256"
    assert config.saml.sp_cert_file == tmp_path / "sp.crt"
    assert config.saml.idp_cert_file == tmp_path / "idp.crt"
    assert config.saml.clock_skew == 300
    assert ok(full(tmp_path, saml={"clock_skew": 0}), tmp_path).saml.clock_skew == 0


@pytest.mark.parametrize("alg", ["rsa-sha256", "rsa-sha512", "ecdsa-sha256"])
def test_sig_algs(tmp_path: Path, alg: str) -> None:
    assert ok(full(tmp_path, saml={"sig_alg": alg}), tmp_path).saml.sig_alg == alg


def test_saml_refusals(tmp_path: Path) -> None:
    saml = {
        "sig_alg": "rsa-sha1",
        "idp_slo_url": "https://idp.example.com/slo?wa=1",
        "sp_entity_id": "",
        "clock_skew": "3x",
        "sp_cert_file": "missing.crt",
    }
    assert errors_of(full(tmp_path, saml=saml), tmp_path) == [
        "saml.sp_entity_id: must not be empty (use null to leave it unset)",
        "saml.idp_slo_url: must not have a query ('?'): the gateway appends its own",
        "saml.sig_alg: must be one of rsa-sha256, rsa-sha512, ecdsa-sha256 (got 'rsa-sha1')",
        f"saml.sp_cert_file: file not found: {tmp_path / 'missing.crt'}",
        "saml.clock_skew: invalid duration '3x' (use seconds or a number with s, m, h or d)",
    ]


# --------------------------------------------------------------------------- limits


def test_limits(tmp_path: Path) -> None:
    config = ok(minimal(limits={"max_body_bytes": 64 * 1024 * 1024}), tmp_path)
    assert config.limits.max_body_bytes == 64 * 1024 * 1024


@pytest.mark.parametrize("value", [0, -1, 64 * 1024 * 1024 + 1, True, "64k", 1.5, None])
def test_limits_refused(tmp_path: Path, value: object) -> None:
    error = one_error(minimal(limits={"max_body_bytes": value}), tmp_path)
    assert error.startswith("limits.max_body_bytes: ")


# --------------------------------------------------------------------------- all at once


def test_every_mistake_is_reported_with_its_key(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """\
        listen: 8080
        mode: reverse
        upstream: http://127.0.0.1:9000/api
        store:
          backend: mysql
        sessions:
          bogus: 1
          max_lifetime: 12x
        audit:
          fsync: "yes"
        routes:
          cas_logout: {mode: proxy}
          logout_action: null
        saml:
          sp_entity_id: gw
          idp_slo_url: https://idp.example.com/slo
          sp_key_file: keys/sp.pem
        limits:
          max_body_bytes: 0
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.errors == [
        'listen: must be a string "host:port" (got 8080)',
        "upstream: must not have a path (got '/api')",
        "store.backend: must be one of memory, sqlite, redis (got 'mysql')",
        "audit.fsync: must be true or false (got 'yes')",
        "sessions.bogus: unknown key",
        "sessions.max_lifetime: invalid duration '12x' (use seconds or a number with s, m, h or d)",
        "routes.cas_logout.mode: must be one of short_circuit, forward (got 'proxy')",
        f"saml.sp_key_file: file not found: {tmp_path / 'keys' / 'sp.pem'}",
        "limits.max_body_bytes: must be between 1 and 67108864 (64 MiB) (got 0)",
    ]
    assert str(info.value) == "\n".join(info.value.errors)


# --------------------------------------------------------------------------- load_config


def test_load_valid_file(tmp_path: Path) -> None:
    touch(tmp_path / "sp.key")
    path = write_config(
        tmp_path,
        """\
        listen: "0.0.0.0:8443"
        upstream: "https://manager.example.com:28443"
        sessions:
          cookies: [JSESSIONID, hadoop.auth]
          max_lifetime: 8h
          idle_timeout: 30m
        routes:
          logout_action: {mode: forward}
        cas:
          server_url: https://cas.example.com:20009/cas
          service_url: https://manager.example.com:28443/web/
          allowed_service_hosts: [manager.example.com:28443]
        saml:
          sp_entity_id: https://gw.example.com
          idp_slo_url: https://idp.example.com/slo
          sp_key_file: sp.key
        """,
    )
    config = load_config(path)
    assert config.source == path
    assert (config.listen_host, config.listen_port) == ("0.0.0.0", 8443)
    assert config.sessions == dataclasses.replace(
        config.sessions, cookies=("JSESSIONID", "hadoop.auth"), max_lifetime=28800
    )
    assert config.sessions.idle_timeout == 1800
    assert config.routes.logout_action == RouteConfig("/web/v1/logout_action", "forward")


def test_load_accepts_path_like_and_str(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, "upstream: http://a:1\nroutes: {logout_action: null, saml_logout: null}\n"
    )
    assert load_config(str(path)) == load_config(path)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """\
        upstream: http://127.0.0.1:9000
        store:
          backend: sqlite
         on_error: deny
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert len(info.value.errors) == 1
    error = info.value.errors[0]
    assert error.startswith(f"{path}: line 4, column 2: invalid YAML: ")


def test_yaml_unsafe_tags_are_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path, "upstream: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert len(info.value.errors) == 1
    assert info.value.errors[0].startswith(f"{path}: line 1, column 11: invalid YAML: ")


def test_duplicate_yaml_keys_are_errors(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """\
        upstream: http://127.0.0.1:9000
        routes: {logout_action: null, saml_logout: null}
        store:
          backend: memory
          backend: redis
        upstream: http://127.0.0.1:9001
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.errors == [
        "store.backend: duplicate key (lines 4 and 5)",
        "upstream: duplicate key (lines 1 and 6)",
    ]


def test_duplicate_keys_reported_alongside_other_errors(tmp_path: Path) -> None:
    path = write_config(tmp_path, "mode: reverse\nmode: transparent\nlisten: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.errors[0] == "mode: duplicate key (lines 1 and 2)"
    assert 'listen: must be a string "host:port" (got 1)' in info.value.errors


def test_yaml_anchors_and_merge_keys_are_fine(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """\
        upstream: http://127.0.0.1:9000
        x_route: &fwd {mode: forward}
        routes:
          cas_logout: {<<: *fwd, path: /cas/logout}
          logout_action: null
          saml_logout: null
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    # Only the made-up top-level key is wrong; the merge itself is understood.
    assert info.value.errors == ["x_route: unknown key (did you mean 'routes'?)"]


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert info.value.errors == [f"{tmp_path / 'nope.yaml'}: file not found"]


def test_config_path_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert info.value.errors == [f"{tmp_path}: not a file"]


def test_config_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"upstream: \xff\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.errors == [f"{path}: not UTF-8 text (byte 10)"]


def test_top_level_list_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, "- listen\n- mode\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.errors == [
        "(top level): the document must be a mapping of config keys (got a list)"
    ]


# --------------------------------------------------------------------------- ConfigError


def test_config_error_str_and_pickle() -> None:
    error = ConfigError(["a: one", "b.c: two"])
    assert error.errors == ["a: one", "b.c: two"]
    assert str(error) == "a: one\nb.c: two"
    copy = pickle.loads(pickle.dumps(error))
    assert copy.errors == error.errors and str(copy) == str(error)
    assert ConfigError("x: single").errors == ["x: single"]


def test_yaml_unclosed_quote_points_at_the_opening_line(tmp_path: Path) -> None:
    # Issue 11, item 6: the error used to name the end of the file.
    path = write_config(
        tmp_path,
        """\
        listen: "127.0.0.1:8080
        mode: reverse
        upstream: http://127.0.0.1:9000
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert len(info.value.errors) == 1
    error = info.value.errors[0]
    assert error.startswith(f"{path}: line 1, column 9: invalid YAML: "), error
    assert "quoted scalar" in error


def test_second_round_hardening_keys_are_validated_together(tmp_path: Path) -> None:
    data = minimal()
    data["sessions"] = {"url_parameters": "yes"}
    data["audit"] = {"flood": {"per_client_per_minute": 0, "per_client": 5}}
    data["saml"] = {"sp_acs_url": "ftp://kibana.example.com/callback"}
    assert errors_of(data, tmp_path) == [
        "audit.flood.per_client: unknown key (did you mean 'per_client_per_minute'?)",
        "audit.flood.per_client_per_minute: must be between 1 and 1000000 (got 0)",
        "sessions.url_parameters: must be true or false (got 'yes')",
        "saml.sp_acs_url: must be an absolute http:// or https:// URL "
        "(got 'ftp://kibana.example.com/callback')",
    ]
    data["sessions"] = {"url_parameters": False}
    data["audit"] = {"flood": {"per_client_per_minute": 5}}
    data["saml"] = {"sp_acs_url": "https://kibana.example.com/api/security/saml/callback"}
    config = ok(data, tmp_path)
    assert config.sessions.url_parameters is False
    assert config.audit.flood.per_client_per_minute == 5
    assert config.saml.sp_acs_url == "https://kibana.example.com/api/security/saml/callback"
