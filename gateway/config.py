"""Load and validate the gateway's YAML config file (SPEC §4).

Every problem is collected with its key path (``saml.sp_key_file: file not found: …``) and
reported at once, so an operator fixes a config in one pass instead of one error per run.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import yaml

__all__ = [
    "AuditConfig",
    "AuditFloodConfig",
    "CASConfig",
    "Config",
    "ConfigError",
    "JWTConfig",
    "LimitsConfig",
    "RouteConfig",
    "RoutesConfig",
    "SAMLConfig",
    "SessionsConfig",
    "StoreConfig",
    "TLSConfig",
    "TokensConfig",
    "UpstreamTLSConfig",
    "load_config",
    "parse_config",
    "parse_duration",
]

T = TypeVar("T")


class ConfigError(Exception):
    """The config is unusable; ``errors`` holds one ``key.path: problem`` line per mistake."""

    def __init__(self, errors: str | Iterable[str]) -> None:
        self.errors: list[str] = [errors] if isinstance(errors, str) else list(errors)
        # The list (not the joined text) is the arg, so the exception survives pickling.
        super().__init__(self.errors)

    def __str__(self) -> str:
        return "\n".join(self.errors)


# --------------------------------------------------------------------------- the result


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
    backend: str  # "memory" | "sqlite" | "redis"
    sqlite_path: Path
    redis_url: str = field(repr=False)  # may carry a password
    on_error: str  # "deny" | "allow"
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
    algorithms: tuple[str, ...]
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
    mode: str  # "short_circuit" | "forward"


@dataclass(frozen=True)
class RoutesConfig:
    cas_logout: RouteConfig | None
    logout_action: RouteConfig | None
    saml_logout: RouteConfig | None


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
    sig_alg: str
    sp_key_file: Path | None
    sp_cert_file: Path | None
    idp_cert_file: Path | None
    clock_skew: int
    # The upstream SP's AssertionConsumerService, for schema-valid metadata (SPEC §3).
    sp_acs_url: str | None = None


@dataclass(frozen=True)
class LimitsConfig:
    max_body_bytes: int


@dataclass(frozen=True)
class Config:
    listen_host: str
    listen_port: int
    mode: str  # "reverse" | "transparent"
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
    source: Path | None


# --------------------------------------------------------------------------- constants

_TOP_KEYS = tuple(
    "listen mode upstream state_dir tls upstream_tls store audit sessions tokens routes cas saml"
    " limits".split()
)
_ROUTE_DEFAULT_PATHS = {
    "cas_logout": "/cas/logout",
    "logout_action": "/web/v1/logout_action",
    "saml_logout": "/_security/saml/logout",
}
_ROUTE_MODES = ("short_circuit", "forward")
_SIG_ALGS = ("rsa-sha256", "rsa-sha512", "ecdsa-sha256")
_JWT_ALGORITHMS = tuple("RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA".split())
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
_MAX_BODY_BYTES = 64 * 1024 * 1024
_MIN_FINGERPRINT_KEY_CHARS = 32

_DURATION_RE = re.compile(r"([0-9]{1,15})([smhd]?)")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
# Far beyond any sane lifetime; keeps "forever"-style values from overflowing timestamps.
_MAX_DURATION = 100 * 365 * 86400
_DURATION_HINT = "(use seconds or a number with s, m, h or d)"

# RFC 6265 cookie-name = RFC 2616 token: visible ASCII except separators.
_COOKIE_NAME_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Underscores are tolerated: internal cluster host names often have them.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")


# --------------------------------------------------------------------------- value parsers
# Each takes the raw YAML value and returns the parsed one or raises ValueError with a
# message that reads well after "key.path: ".


def _describe(value: object) -> str:
    """A short, YAML-flavoured rendering of a value for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def parse_duration(value: object) -> int:
    """Seconds from an int (>= 0) or a string such as "45", "90s", "30m", "12h", "2d"."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"invalid duration: got {_describe(value)} {_DURATION_HINT}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"invalid duration {value}: must not be negative")
        seconds = value
    else:
        match = _DURATION_RE.fullmatch(value.strip())
        if match is None:
            raise ValueError(f"invalid duration {_describe(value)} {_DURATION_HINT}")
        seconds = int(match[1]) * _DURATION_UNITS[match[2]]
    if seconds > _MAX_DURATION:
        raise ValueError(f"invalid duration {_describe(value)}: longer than 100 years")
    return seconds


def _positive_duration(value: object) -> int:
    seconds = parse_duration(value)
    if seconds == 0:
        raise ValueError("must be greater than 0")
    return seconds


def _as_str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string (got {_describe(value)})")
    if not value:
        raise ValueError("must not be empty (use null to leave it unset)")
    return value


def _as_bool(value: object) -> bool:
    # YAML true/false only: a quoted "false" is truthy in Python and must not slip through.
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false (got {_describe(value)})")
    return value


def _one_of(*options: str) -> Callable[[object], str]:
    def convert(value: object) -> str:
        if not isinstance(value, str) or value not in options:
            raise ValueError(f"must be one of {', '.join(options)} (got {_describe(value)})")
        return value

    return convert


def _optional(convert: Callable[[object], T]) -> Callable[[object], T | None]:
    def optional(value: object) -> T | None:
        return None if value is None else convert(value)

    return optional


def _as_per_minute(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer (got {_describe(value)})")
    if not 1 <= value <= 1_000_000:
        raise ValueError(f"must be between 1 and 1000000 (got {value})")
    return value


def _as_max_body_bytes(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer number of bytes (got {_describe(value)})")
    if not 0 < value <= _MAX_BODY_BYTES:
        raise ValueError(f"must be between 1 and {_MAX_BODY_BYTES} (64 MiB) (got {value})")
    return value


def _has_unsafe_chars(text: str) -> bool:
    """Whitespace, control characters and backslashes: parsers disagree on them."""
    return any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in text)


def _is_name_or_ipv4(host: str) -> bool:
    if len(host) > 253 or not _HOSTNAME_RE.fullmatch(host):
        return False
    if all(label.isdigit() for label in host.rstrip(".").split(".")):
        # All-numeric "names" are IPv4 addresses to every resolver, so they must be valid ones.
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
    return True


def _parse_port(text: str, *, allow_zero: bool) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 5:
        raise ValueError(f"invalid port {text!r}")
    port = int(text)
    low = 0 if allow_zero else 1
    if not low <= port <= 65535:
        raise ValueError(f"port must be between {low} and 65535 (got {port})")
    return port


def _split_host_port(text: str) -> tuple[str, str | None, bool]:
    """'host', 'host:port', '[v6]' or '[v6]:port' → (host without brackets, port, is_ipv6)."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError("missing ']' after the IPv6 address")
        host, rest = text[1:end], text[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"invalid IPv6 address {host!r}") from None
        if not rest:
            return host, None, True
        if not rest.startswith(":"):
            raise ValueError(f"unexpected {rest!r} after ']'")
        return host, rest[1:], True
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = text, ""
    if ":" in host:
        raise ValueError('IPv6 addresses must be in brackets, e.g. "[::1]:8080"')
    if not host:
        raise ValueError("missing host")
    if not _is_name_or_ipv4(host):
        raise ValueError(f"invalid host {host!r}")
    return host, (port if sep else None), False


def _parse_listen(value: object) -> tuple[str, int]:
    if not isinstance(value, str):
        raise ValueError(f'must be a string "host:port" (got {_describe(value)})')
    host, port, _ = _split_host_port(value)
    if port is None:
        raise ValueError(f'must be "host:port", e.g. "127.0.0.1:8080" (got {value!r})')
    return host, _parse_port(port, allow_zero=True)


def _as_host_entry(value: object) -> str:
    """An allowed_service_hosts entry, normalised to lower-case 'host' or 'host:port'."""
    if not isinstance(value, str):
        raise ValueError(f'must be a string "host" or "host:port" (got {_describe(value)})')
    if "/" in value or "@" in value or _has_unsafe_chars(value):
        raise ValueError(f"must be a host or host:port, without scheme or path (got {value!r})")
    try:
        host, port, ipv6 = _split_host_port(value.lower())
        port_number = None if port is None else _parse_port(port, allow_zero=False)
    except ValueError as exc:
        raise ValueError(f"invalid host[:port] {value!r}: {exc}") from None
    shown = f"[{host}]" if ipv6 else host
    return shown if port_number is None else f"{shown}:{port_number}"


def _check_http_url(value: object, *, allow_query: bool) -> str:
    """An absolute http(s) URL with a host, no userinfo, no fragment; returned unchanged."""
    if not isinstance(value, str):
        raise ValueError(f"must be a URL string (got {_describe(value)})")
    if not value:
        raise ValueError("must not be empty (use null to leave it unset)")
    if _has_unsafe_chars(value):
        raise ValueError("must not contain whitespace, control characters or backslashes")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid URL {value!r}: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"must be an absolute http:// or https:// URL (got {value!r})")
    if "@" in parts.netloc:
        raise ValueError("must not contain user info (user@host)")
    host = parts.hostname or ""
    bracketed = parts.netloc.startswith("[")
    if not host or (not bracketed and not _is_name_or_ipv4(host)):
        raise ValueError(f"must have a valid host (got {value!r})")
    if port == 0:
        raise ValueError(f"invalid port 0 in {value!r}")
    if "#" in value:
        raise ValueError("must not have a fragment ('#')")
    if not allow_query and "?" in value:
        raise ValueError("must not have a query ('?'): the gateway appends its own")
    return value


def _as_url(value: object) -> str:
    return _check_http_url(value, allow_query=True)


def _as_base_url(value: object) -> str:
    # URLs the gateway appends a path or query to: "/" is stripped, a query is refused.
    return _check_http_url(value, allow_query=False).rstrip("/")


def _as_upstream(value: object) -> str:
    url = _check_http_url(value, allow_query=False)
    parts = urlsplit(url)
    if parts.path not in ("", "/"):
        raise ValueError(f"must not have a path (got {parts.path!r})")
    return f"{parts.scheme.lower()}://{parts.netloc}"


def _as_route_path(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string (got {_describe(value)})")
    if not value.startswith("/"):
        raise ValueError(f"must start with '/' (got {value!r})")
    if "?" in value or "#" in value:
        raise ValueError(f"must be a path only, without '?' or '#' (got {value!r})")
    # Request paths are matched after normalisation (SPEC §6); these could never match.
    if "%" in value or ";" in value:
        raise ValueError(f"must be a plain decoded path, without '%' or ';' (got {value!r})")
    if not value.isascii() or _has_unsafe_chars(value):
        raise ValueError(f"must be printable ASCII without spaces or backslashes (got {value!r})")
    # Normalised like request paths: duplicate slashes collapsed, trailing slash ignored.
    return re.sub(r"/{2,}", "/", value).rstrip("/") or "/"


def _as_cookie_name(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a cookie name string (got {_describe(value)})")
    if not _COOKIE_NAME_RE.fullmatch(value):
        raise ValueError(f"invalid cookie name {value!r} (RFC 6265 token characters only)")
    return value


def _as_jwt_algorithm(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a list of algorithm names (got {_describe(value)})")
    if value.lower() == "none":
        raise ValueError("'none' is never accepted")
    if value.upper().startswith("HS"):
        raise ValueError(f"{value}: HMAC algorithms are not supported (public keys only)")
    if value not in _JWT_ALGORITHMS:
        # JOSE names are case-sensitive; point at the intended one instead of just refusing.
        same = [a for a in _JWT_ALGORITHMS if a.lower() == value.lower()]
        hint = f" (did you mean {same[0]!r}?)" if same else ""
        raise ValueError(f"unsupported algorithm {value!r}{hint}; use {', '.join(_JWT_ALGORITHMS)}")
    return value


def _as_audience(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (_as_str(value),)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(
            f"must be a string or a list of non-empty strings (got {_describe(value)})"
        )
    return tuple(dict.fromkeys(value))


def _as_redis_url(value: object) -> str:
    # The URL may carry a password, so it is never echoed back.
    if not isinstance(value, str) or not value.startswith(_REDIS_SCHEMES):
        raise ValueError("must be a string starting with redis://, rediss:// or unix://")
    return value


def _as_fingerprint_key(value: object) -> str:
    # A secret: never echoed back.
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) < _MIN_FINGERPRINT_KEY_CHARS:
        raise ValueError(f"must be at least {_MIN_FINGERPRINT_KEY_CHARS} characters")
    return value


def _path_converter(base_dir: Path) -> Callable[[object], Path]:
    """Absolute path: '~' expanded, relative ones taken from the config file's folder."""

    def convert(value: object) -> Path:
        if not isinstance(value, str):
            raise ValueError(f"must be a path string (got {_describe(value)})")
        if not value:
            raise ValueError("must not be empty")
        if "\x00" in value:
            raise ValueError("must not contain a NUL character")
        try:
            path = Path(value).expanduser()
        except RuntimeError:
            raise ValueError(f"cannot expand '~' in {value!r}") from None
        return Path(os.path.abspath(base_dir / path))

    return convert


def _file_problem(path: Path) -> str | None:
    """Why `path` cannot be used as an input file, or None. Content is checked elsewhere."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return f"file not found: {path}"
    except PermissionError:
        return f"not readable: {path}"
    except OSError as exc:
        return f"cannot access {path}: {exc.strerror}"
    if not stat.S_ISREG(mode):
        return f"not a file: {path}"
    # Opening is the only reliable readability test (ACLs, root, read-only mounts).
    try:
        with path.open("rb"):
            pass
    except PermissionError:
        return f"not readable: {path}"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    return None


def _file_converter(base_dir: Path) -> Callable[[object], Path]:
    to_path = _path_converter(base_dir)

    def convert(value: object) -> Path:
        path = to_path(value)
        problem = _file_problem(path)
        if problem is not None:
            raise ValueError(problem)
        return path

    return convert


# --------------------------------------------------------------------------- the reader


class _Errors:
    """The error lines collected so far, plus the key paths they were reported at."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.paths: set[str] = set()

    def add(self, path: str, problem: str) -> None:
        self.lines.append(f"{path or '(top level)'}: {problem}")
        self.paths.add(path)

    def at_or_above(self, path: str) -> bool:
        """An error was reported at `path` or at a section containing it."""
        return any(path == p or path.startswith(p + ".") for p in self.paths)


class _Reader:
    """One mapping of the document at a key path: refuses unknown keys, and turns a bad
    value into an error line plus the default, so validation always carries on."""

    def __init__(
        self,
        errors: _Errors,
        base_dir: Path,
        path: str,
        value: object,
        keys: Sequence[str],
        *,
        null_hint: str | None = None,
    ) -> None:
        self.errors = errors
        self.base_dir = base_dir
        self.path = path
        self.data: dict[str, object] = {}
        if value is None and null_hint is None:
            return  # an empty section (every sub-key commented out): all defaults
        if not isinstance(value, dict):
            hint = f"; {null_hint}" if null_hint and value is None else ""
            errors.add(path, f"must be a mapping (got {_describe(value)}){hint}")
            return
        for key, item in value.items():
            if isinstance(key, str) and key in keys:
                self.data[key] = item
            else:
                errors.add(self.child(str(key)), "unknown key" + _suggest(str(key), keys))

    def child(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> object:
        return self.data.get(key)

    def error(self, key: str, problem: str) -> None:
        self.errors.add(self.child(key), problem)

    def section(self, key: str, keys: Sequence[str], *, null_hint: str | None = None) -> _Reader:
        # The hint applies to an explicit null only; a missing section means the defaults.
        hint = null_hint if self.has(key) else None
        return _Reader(
            self.errors, self.base_dir, self.child(key), self.raw(key), keys, null_hint=hint
        )

    def get(self, key: str, default: T, convert: Callable[[object], T]) -> T:
        if key not in self.data:
            return default
        try:
            return convert(self.data[key])
        except ValueError as exc:
            self.error(key, str(exc))
            return default

    def items(
        self,
        key: str,
        default: tuple[T, ...],
        convert: Callable[[object], T],
        *,
        allow_empty: bool = False,
        indexed: bool = True,
    ) -> tuple[T, ...]:
        """A list whose items are checked one by one (errors at `key[i]` when `indexed`)."""
        if key not in self.data:
            return default
        value = self.data[key]
        if not isinstance(value, list):
            self.error(key, f"must be a list (got {_describe(value)})")
            return default
        if not value and not allow_empty:
            self.error(key, "must not be empty")
            return default
        result: list[T] = []
        for index, item in enumerate(value):
            try:
                result.append(convert(item))
            except ValueError as exc:
                self.error(f"{key}[{index}]" if indexed else key, str(exc))
        return tuple(result)

    def output_path(self, key: str, default: Path, *, directory: bool = False) -> Path:
        """A path the gateway creates later (state dir, db, audit log). Checked even when
        defaulted: an existing thing of the wrong kind fails at startup, not mid-traffic."""
        path = self.get(key, default, _path_converter(self.base_dir))
        if self.errors.at_or_above(self.child(key)):
            return path
        if directory and path.exists() and not path.is_dir():
            self.error(key, f"not a directory: {path}")
        elif not directory and path.is_dir():
            self.error(key, f"is a directory: {path}")
        return path

    def file(self, key: str) -> Path | None:
        return self.get(key, None, _optional(_file_converter(self.base_dir)))

    def optional_str(self, key: str) -> str | None:
        return self.get(key, None, _optional(_as_str))


def _suggest(key: str, keys: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, keys, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --------------------------------------------------------------------------- sections


def _read_upstream(top: _Reader, mode: str) -> str | None:
    if mode == "transparent":
        if top.raw("upstream") is not None:
            top.error("upstream", "not used in transparent mode")
        return None
    upstream = top.get("upstream", None, _optional(_as_upstream))
    if mode == "reverse" and upstream is None and not top.errors.at_or_above("upstream"):
        top.error("upstream", "required in reverse mode")
    return upstream


def _read_tls(r: _Reader) -> TLSConfig:
    cert_file, key_file = r.file("cert_file"), r.file("key_file")
    # Judged on the raw values so a missing file is not also reported as "required".
    has_cert, has_key = r.raw("cert_file") is not None, r.raw("key_file") is not None
    if has_cert and not has_key:
        r.error("key_file", f"required when {r.child('cert_file')} is set")
    if has_key and not has_cert:
        r.error("cert_file", f"required when {r.child('key_file')} is set")
    return TLSConfig(cert_file=cert_file, key_file=key_file)


def _read_upstream_tls(r: _Reader) -> UpstreamTLSConfig:
    return UpstreamTLSConfig(verify=r.get("verify", True, _as_bool), ca_file=r.file("ca_file"))


def _read_store(r: _Reader, state_dir: Path) -> StoreConfig:
    return StoreConfig(
        backend=r.get("backend", "sqlite", _one_of("memory", "sqlite", "redis")),
        sqlite_path=r.output_path("sqlite_path", state_dir / "gateway.db"),
        redis_url=r.get("redis_url", "redis://127.0.0.1:6379/0", _as_redis_url),
        on_error=r.get("on_error", "deny", _one_of("deny", "allow")),
        fingerprint_key=r.get("fingerprint_key", None, _optional(_as_fingerprint_key)),
    )


def _read_audit(r: _Reader, state_dir: Path) -> AuditConfig:
    flood = r.section("flood", ("per_client_per_minute",))
    return AuditConfig(
        path=r.output_path("path", state_dir / "audit.jsonl"),
        fsync=r.get("fsync", True, _as_bool),
        flood=AuditFloodConfig(
            per_client_per_minute=flood.get("per_client_per_minute", 60, _as_per_minute)
        ),
    )


def _read_sessions(r: _Reader) -> SessionsConfig:
    seen: set[str] = set()

    def unique_cookie(value: object) -> str:
        name = _as_cookie_name(value)
        if name in seen:
            raise ValueError(f"duplicate cookie name {name!r}")
        seen.add(name)
        return name

    return SessionsConfig(
        cookies=r.items("cookies", ("JSESSIONID",), unique_cookie),
        max_lifetime=r.get("max_lifetime", 12 * 3600, _positive_duration),
        idle_timeout=r.get("idle_timeout", None, _optional(_positive_duration)),
        url_parameters=r.get("url_parameters", True, _as_bool),
    )


def _read_jwt(tokens: _Reader) -> JWTConfig | None:
    value = tokens.raw("jwt")
    if value is None:
        return None
    r = tokens.section("jwt", ("algorithms", "key_files", "issuer", "audience"))
    if not isinstance(value, dict):
        return None
    for key in ("algorithms", "key_files"):
        if not r.has(key):
            r.error(key, f"required when {r.path} is set")
    algorithms = r.items("algorithms", (), _as_jwt_algorithm, indexed=False)
    return JWTConfig(
        algorithms=tuple(dict.fromkeys(algorithms)),
        key_files=r.items("key_files", (), _file_converter(r.base_dir)),
        issuer=r.optional_str("issuer"),
        audience=r.get("audience", (), _as_audience),
    )


def _read_tokens(r: _Reader) -> TokensConfig:
    return TokensConfig(
        max_lifetime=r.get("max_lifetime", 24 * 3600, _positive_duration),
        jwt=_read_jwt(r),
    )


def _read_routes(r: _Reader) -> RoutesConfig:
    routes: dict[str, RouteConfig | None] = {}
    explicit: set[str] = set()  # routes whose path the file sets: they get the blame for a clash
    for name, default_path in _ROUTE_DEFAULT_PATHS.items():
        if r.has(name) and r.raw(name) is None:
            routes[name] = None  # explicitly disabled
            continue
        # A partial mapping merges with the defaults; a bad one leaves the route enabled so
        # the required-when checks still speak about it.
        route = r.section(name, ("path", "mode"))
        if route.has("path"):
            explicit.add(name)
        routes[name] = RouteConfig(
            path=route.get("path", default_path, _as_route_path),
            mode=route.get("mode", "short_circuit", _one_of(*_ROUTE_MODES)),
        )
    owners: dict[str, str] = {}
    for name, config in routes.items():
        if config is None or r.errors.at_or_above(f"{r.child(name)}.path"):
            continue
        if config.path in owners:
            first = owners[config.path]
            blamed, other = (first, name) if name not in explicit else (name, first)
            r.error(f"{blamed}.path", f"same path as {r.child(other)} ({config.path!r})")
        else:
            owners[config.path] = name
    return RoutesConfig(
        cas_logout=routes["cas_logout"],
        logout_action=routes["logout_action"],
        saml_logout=routes["saml_logout"],
    )


def _read_cas(r: _Reader) -> CASConfig:
    hosts = r.items("allowed_service_hosts", (), _as_host_entry, allow_empty=True)
    return CASConfig(
        server_url=r.get("server_url", None, _optional(_as_base_url)),
        service_url=r.get("service_url", None, _optional(_as_url)),
        allowed_service_hosts=tuple(dict.fromkeys(hosts)),
    )


def _read_saml(r: _Reader) -> SAMLConfig:
    return SAMLConfig(
        sp_entity_id=r.optional_str("sp_entity_id"),
        idp_entity_id=r.optional_str("idp_entity_id"),
        # The gateway appends ?SAMLRequest=… to it, so a query of its own is refused.
        idp_slo_url=r.get("idp_slo_url", None, _optional(_as_base_url)),
        sp_slo_url=r.get("sp_slo_url", None, _optional(_as_url)),
        sign=r.get("sign", True, _as_bool),
        sig_alg=r.get("sig_alg", "rsa-sha256", _one_of(*_SIG_ALGS)),
        sp_key_file=r.file("sp_key_file"),
        sp_cert_file=r.file("sp_cert_file"),
        idp_cert_file=r.file("idp_cert_file"),
        clock_skew=r.get("clock_skew", 180, parse_duration),
        sp_acs_url=r.get("sp_acs_url", None, _optional(_as_url)),
    )


def _check_required(
    errors: _Errors, routes: RoutesConfig, cas: CASConfig, saml: SAMLConfig
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


# --------------------------------------------------------------------------- entry points


def parse_config(data: object, base_dir: Path, source: Path | None = None) -> Config:
    """Validate a parsed YAML document (None: all defaults). Relative paths are taken from
    `base_dir`. Raises ConfigError listing every problem."""
    base_dir = Path(os.path.abspath(Path(base_dir).expanduser()))
    errors = _Errors()
    if data is not None and not isinstance(data, dict):
        errors.add("", f"the document must be a mapping of config keys (got {_describe(data)})")
        raise ConfigError(errors.lines)

    top = _Reader(errors, base_dir, "", data, _TOP_KEYS)
    listen_host, listen_port = top.get("listen", ("127.0.0.1", 8080), _parse_listen)
    mode = top.get("mode", "reverse", _one_of("reverse", "transparent"))
    if "mode" in errors.paths:
        mode = ""  # unknown: neither "required" nor "not used" can be decided for upstream
    upstream = _read_upstream(top, mode)
    state_dir = top.output_path("state_dir", base_dir / "var", directory=True)

    def section(key: str, keys: Sequence[str], null_hint: str | None = None) -> _Reader:
        return top.section(key, keys, null_hint=null_hint)

    tls = _read_tls(section("tls", ("cert_file", "key_file")))
    upstream_tls = _read_upstream_tls(section("upstream_tls", ("verify", "ca_file")))
    store = _read_store(
        section("store", ("backend", "sqlite_path", "redis_url", "on_error", "fingerprint_key")),
        state_dir,
    )
    audit = _read_audit(section("audit", ("path", "fsync", "flood")), state_dir)
    sessions = _read_sessions(
        section("sessions", ("cookies", "max_lifetime", "idle_timeout", "url_parameters"))
    )
    tokens = _read_tokens(section("tokens", ("max_lifetime", "jwt")))
    routes = _read_routes(
        section(
            "routes",
            tuple(_ROUTE_DEFAULT_PATHS),
            # `routes: null` is ambiguous (defaults? nothing?), so it is refused.
            null_hint="use {} for the defaults, or set a single route to null to disable it",
        )
    )
    cas = _read_cas(section("cas", ("server_url", "service_url", "allowed_service_hosts")))
    saml = _read_saml(
        section(
            "saml",
            (
                "sp_entity_id idp_entity_id idp_slo_url sp_slo_url sign sig_alg sp_key_file"
                " sp_cert_file idp_cert_file clock_skew sp_acs_url"
            ).split(),
        )
    )
    limits = LimitsConfig(
        max_body_bytes=section("limits", ("max_body_bytes",)).get(
            "max_body_bytes", 65536, _as_max_body_bytes
        )
    )
    _check_required(errors, routes, cas, saml)

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
        duplicates = _duplicate_keys(text)
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_error(file, exc)]) from None
    try:
        config = parse_config(data, file.parent, source=file)
    except ConfigError as exc:
        raise ConfigError(duplicates + exc.errors) from None
    if duplicates:
        raise ConfigError(duplicates)
    return config


def _yaml_error(file: Path, exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        problem = exc.problem or "syntax error"
        mark = exc.problem_mark
        context = exc.context_mark
        if exc.context and context is not None and "end of stream" in problem:
            # The parser ran off the end of the file (e.g. a quote never closed):
            # point where the construct began, not at the end of the file.
            return (
                f"{file}: line {context.line + 1}, column {context.column + 1}: invalid YAML: "
                f"{problem} ({exc.context} that starts here; the parser stopped at "
                f"line {mark.line + 1}, column {mark.column + 1})"
            )
        if exc.context:
            problem = f"{problem} ({exc.context})"
        return f"{file}: line {mark.line + 1}, column {mark.column + 1}: invalid YAML: {problem}"
    return f"{file}: invalid YAML: {exc}"


def _duplicate_keys(text: str) -> list[str]:
    """PyYAML silently keeps the last of two equal keys; a repeated section or key is
    almost always a mistake, so it is reported like any other."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    found: list[str] = []
    seen: set[int] = set()  # aliases share nodes; visit each once

    def walk(node: yaml.Node | None, path: str) -> None:
        if node is None or id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            lines: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                    walk(value_node, path)
                    continue
                key = str(key_node.value)
                child = f"{path}.{key}" if path else key
                line = key_node.start_mark.line + 1
                if key in lines:
                    found.append(f"{child}: duplicate key (lines {lines[key]} and {line})")
                else:
                    lines[key] = line
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, f"{path}[{index}]")

    walk(root, "")
    return found
