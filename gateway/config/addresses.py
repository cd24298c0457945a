"""Parsers for where things are on the network: host names, ports, `listen`, service
host entries, http(s) URLs and route paths.

Each takes the raw YAML value and returns the parsed one or raises ValueError with a
message that reads well after "key.path: ".
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from gateway.config.values import describe

__all__ = [
    "as_base_url",
    "as_host_entry",
    "as_route_path",
    "as_sentinel_host",
    "as_source_network",
    "as_upstream",
    "as_url",
    "parse_listen",
]

# Underscores are tolerated: internal cluster host names often have them.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")


def _has_unsafe_chars(text: str) -> bool:
    """Whitespace, control characters and backslashes: parsers disagree on them."""
    return any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in text)


# --------------------------------------------------------------------------- hosts and ports


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


def parse_listen(value: object) -> tuple[str, int]:
    if not isinstance(value, str):
        raise ValueError(f'must be a string "host:port" (got {describe(value)})')
    host, port, _ = _split_host_port(value)
    if port is None:
        raise ValueError(f'must be "host:port", e.g. "127.0.0.1:8080" (got {value!r})')
    return host, _parse_port(port, allow_zero=True)


def as_host_entry(value: object) -> str:
    """An allowed_service_hosts entry, normalised to lower-case 'host' or 'host:port'."""
    if not isinstance(value, str):
        raise ValueError(f'must be a string "host" or "host:port" (got {describe(value)})')
    if "/" in value or "@" in value or _has_unsafe_chars(value):
        raise ValueError(f"must be a host or host:port, without scheme or path (got {value!r})")
    try:
        host, port, ipv6 = _split_host_port(value.lower())
        port_number = None if port is None else _parse_port(port, allow_zero=False)
    except ValueError as exc:
        raise ValueError(f"invalid host[:port] {value!r}: {exc}") from None
    shown = f"[{host}]" if ipv6 else host
    return shown if port_number is None else f"{shown}:{port_number}"


def as_sentinel_host(value: object) -> tuple[str, int]:
    """A Redis Sentinel address, "host:port" (or "[v6]:port") → (host, port)."""
    if not isinstance(value, str):
        raise ValueError(f'must be a string "host:port" (got {describe(value)})')
    if "/" in value or "@" in value or _has_unsafe_chars(value):
        raise ValueError(f'must be "host:port", without scheme, user or path (got {value!r})')
    try:
        host, port, _ = _split_host_port(value)
        if port is None:
            # No silent default: Sentinel's usual port (26379) is not Redis' (6379).
            raise ValueError('a port is required, e.g. "sentinel-1.internal:26379"')
        return host, _parse_port(port, allow_zero=False)
    except ValueError as exc:
        raise ValueError(f"invalid sentinel address {value!r}: {exc}") from None


# --------------------------------------------------------------------------- URLs


def _check_http_url(value: object, *, allow_query: bool) -> str:
    """An absolute http(s) URL with a host, no userinfo, no fragment; returned unchanged."""
    if not isinstance(value, str):
        raise ValueError(f"must be a URL string (got {describe(value)})")
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


def as_url(value: object) -> str:
    return _check_http_url(value, allow_query=True)


def as_base_url(value: object) -> str:
    # URLs the gateway appends a path or query to: "/" is stripped, a query is refused.
    return _check_http_url(value, allow_query=False).rstrip("/")


def as_upstream(value: object) -> str:
    url = _check_http_url(value, allow_query=False)
    parts = urlsplit(url)
    if parts.path not in ("", "/"):
        raise ValueError(f"must not have a path (got {parts.path!r})")
    return f"{parts.scheme.lower()}://{parts.netloc}"


# --------------------------------------------------------------------------- paths


def as_route_path(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string (got {describe(value)})")
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


# --------------------------------------------------------------------------- networks


def as_source_network(value: object) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A CIDR a peer may post from (`cas.slo.allowed_sources`): `10.0.0.0/24`,
    `2001:db8::/64`, or a bare address (/32, /128)."""
    if not isinstance(value, str):
        raise ValueError(f'must be a CIDR string such as "10.0.0.0/24" (got {describe(value)})')
    text = value.strip()
    if "%" in text:
        raise ValueError(f"zone ids are not supported (got {value!r})")
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        try:
            # Host bits set (10.0.0.5/24): say what was probably meant instead of guessing.
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"invalid CIDR {value!r}: {exc}") from None
        raise ValueError(
            f"{value!r} has host bits set (did you mean {str(loose)!r} or a bare address?)"
        ) from None
