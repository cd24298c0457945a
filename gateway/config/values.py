"""Parsers for scalar config values: durations, strings, booleans, choices, numbers in a
range, cookie names, JWT algorithms, secrets.

Each takes the raw YAML value and returns the parsed one or raises ValueError with a
message that reads well after "key.path: ".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from gateway.jwt_tokens.algorithms import JWT_ALGORITHMS

__all__ = [
    "MAX_BODY_BYTES",
    "as_audience",
    "as_bool",
    "as_claim_name",
    "as_cookie_name",
    "as_fingerprint_key",
    "as_header_name",
    "as_jwt_algorithm",
    "as_max_body_bytes",
    "as_min_replicas_ack",
    "as_per_minute",
    "as_redis_url",
    "as_sentinel_service",
    "as_str",
    "as_stream_bodies_over",
    "describe",
    "one_of",
    "optional",
    "parse_duration",
    "positive_duration",
]

T = TypeVar("T")
Choice = TypeVar("Choice", bound=str)

MAX_BODY_BYTES = 64 * 1024 * 1024
_MIN_FINGERPRINT_KEY_CHARS = 32
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# Redis documents master names as letters, digits and ".-_" (sentinel.conf).
_SENTINEL_SERVICE_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Far more than any deployment has; WAIT itself accepts any number.
MAX_REPLICAS_ACK = 100

_DURATION_RE = re.compile(r"([0-9]{1,15})([smhd]?)")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
# Far beyond any sane lifetime; keeps "forever"-style values from overflowing timestamps.
_MAX_DURATION = 100 * 365 * 86400
_DURATION_HINT = "(use seconds or a number with s, m, h or d)"

# RFC 6265 cookie-name = RFC 2616 token: visible ASCII except separators.
_COOKIE_NAME_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def describe(value: object) -> str:
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


# --------------------------------------------------------------------------- combinators


def optional(convert: Callable[[object], T]) -> Callable[[object], T | None]:
    """`convert`, with null meaning "unset"."""

    def convert_optional(value: object) -> T | None:
        return None if value is None else convert(value)

    return convert_optional


def one_of(options: tuple[Choice, ...]) -> Callable[[object], Choice]:
    """One of a fixed set of strings (a Literal type's values, see gateway.config.model)."""

    def convert(value: object) -> Choice:
        for option in options:
            if isinstance(value, str) and value == option:
                return option
        raise ValueError(f"must be one of {', '.join(options)} (got {describe(value)})")

    return convert


# --------------------------------------------------------------------------- scalars


def parse_duration(value: object) -> int:
    """Seconds from an int (>= 0) or a string such as "45", "90s", "30m", "12h", "2d"."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"invalid duration: got {describe(value)} {_DURATION_HINT}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"invalid duration {value}: must not be negative")
        seconds = value
    else:
        match = _DURATION_RE.fullmatch(value.strip())
        if match is None:
            raise ValueError(f"invalid duration {describe(value)} {_DURATION_HINT}")
        seconds = int(match[1]) * _DURATION_UNITS[match[2]]
    if seconds > _MAX_DURATION:
        raise ValueError(f"invalid duration {describe(value)}: longer than 100 years")
    return seconds


def positive_duration(value: object) -> int:
    seconds = parse_duration(value)
    if seconds == 0:
        raise ValueError("must be greater than 0")
    return seconds


def as_str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string (got {describe(value)})")
    if not value:
        raise ValueError("must not be empty (use null to leave it unset)")
    return value


def as_bool(value: object) -> bool:
    # YAML true/false only: a quoted "false" is truthy in Python and must not slip through.
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false (got {describe(value)})")
    return value


def as_per_minute(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer (got {describe(value)})")
    if not 1 <= value <= 1_000_000:
        raise ValueError(f"must be between 1 and 1000000 (got {value})")
    return value


def as_max_body_bytes(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer number of bytes (got {describe(value)})")
    if not 0 < value <= MAX_BODY_BYTES:
        raise ValueError(f"must be between 1 and {MAX_BODY_BYTES} (64 MiB) (got {value})")
    return value


def as_min_replicas_ack(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer (got {describe(value)})")
    if not 0 <= value <= MAX_REPLICAS_ACK:
        raise ValueError(f"must be between 0 and {MAX_REPLICAS_ACK} (got {value})")
    return value


def as_sentinel_service(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string (got {describe(value)})")
    if not _SENTINEL_SERVICE_RE.fullmatch(value):
        raise ValueError(
            "must be the master name the sentinels monitor: 1 to 64 letters, digits, '.', "
            f"'-' or '_' (got {describe(value)})"
        )
    return value


def as_stream_bodies_over(value: object) -> int:
    # The same ceiling as max_body_bytes: a body below the threshold is held whole, so
    # a larger one would let one request hold that much memory.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer number of bytes (got {describe(value)})")
    if not 0 < value <= MAX_BODY_BYTES:
        raise ValueError(f"must be between 1 and {MAX_BODY_BYTES} (64 MiB) (got {value})")
    return value


def as_cookie_name(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a cookie name string (got {describe(value)})")
    if not _COOKIE_NAME_RE.fullmatch(value):
        raise ValueError(f"invalid cookie name {value!r} (RFC 6265 token characters only)")
    return value


def as_header_name(value: object) -> str:
    """An HTTP header name (RFC 9110 token), lower-cased as the gateway compares them."""
    if not isinstance(value, str):
        raise ValueError(f"must be a header name string (got {describe(value)})")
    if not _COOKIE_NAME_RE.fullmatch(value):  # a header name is the same token grammar
        raise ValueError(f"invalid header name {value!r} (RFC 9110 token characters only)")
    return value.lower()


# --------------------------------------------------------------------------- tokens.jwt


def as_jwt_algorithm(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a list of algorithm names (got {describe(value)})")
    if value.lower() == "none":
        raise ValueError("'none' is never accepted")
    if value.upper().startswith("HS"):
        raise ValueError(f"{value}: HMAC algorithms are not supported (public keys only)")
    if value not in JWT_ALGORITHMS:
        # JOSE names are case-sensitive; point at the intended one instead of just refusing.
        same = [a for a in JWT_ALGORITHMS if a.lower() == value.lower()]
        hint = f" (did you mean {same[0]!r}?)" if same else ""
        raise ValueError(f"unsupported algorithm {value!r}{hint}; use {', '.join(JWT_ALGORITHMS)}")
    return value


def as_audience(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (as_str(value),)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"must be a string or a list of non-empty strings (got {describe(value)})")
    return tuple(dict.fromkeys(value))


# --------------------------------------------------------------------------- secrets


def as_redis_url(value: object) -> str:
    # The URL may carry a password, so it is never echoed back.
    if not isinstance(value, str) or not value.startswith(_REDIS_SCHEMES):
        raise ValueError("must be a string starting with redis://, rediss:// or unix://")
    return value


def as_fingerprint_key(value: object) -> str:
    # A secret: never echoed back.
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) < _MIN_FINGERPRINT_KEY_CHARS:
        raise ValueError(f"must be at least {_MIN_FINGERPRINT_KEY_CHARS} characters")
    return value


# --------------------------------------------------------------------------- oidc


def as_claim_name(value: object) -> str:
    """A JWT claim name (oidc.principal_claim): printable, no whitespace."""
    name = as_str(value)
    if not name.isprintable() or any(ch.isspace() for ch in name):
        raise ValueError(
            f"must be a claim name without whitespace or control characters (got {value!r})"
        )
    return name
