"""The Elasticsearch security-API bodies the gateway reads.

Parsing only: each function takes raw bytes and returns plain values or an
`EsBodyError` carrying the Elasticsearch-style error to answer with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class EsBodyError(Exception):
    status: int
    error_type: str
    reason: str


@dataclass(frozen=True, slots=True)
class LogoutBody:
    token: str
    refresh_token: str | None


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Elasticsearch parses JSON with strict duplicate detection; two `token`
    # fields must not let us read one value while the upstream reads another.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise EsBodyError(400, "x_content_parse_exception", f"Duplicate field '{key}'")
        out[key] = value
    return out


def _load_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except EsBodyError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise EsBodyError(400, "x_content_parse_exception", "Failed to parse request body") from exc
    if not isinstance(data, dict):
        raise EsBodyError(400, "parse_exception", "request body must be a JSON object")
    return data


# The strict reader (duplicate fields refused, an object required), for the parsers of
# other modules (gateway.token_api_bodies).
load_object = _load_object


def parse_saml_logout(body: bytes | None) -> LogoutBody:
    """`POST /_security/saml/logout` body: {"token": str, "refresh_token": str?}."""
    if not body or not body.strip():
        raise EsBodyError(
            400, "action_request_validation_exception", "Validation Failed: 1: token is missing;"
        )
    data = _load_object(body)
    unknown = sorted(set(data) - {"token", "refresh_token"})
    if unknown:
        raise EsBodyError(
            400, "x_content_parse_exception", f"[saml_logout] unknown field [{unknown[0]}]"
        )
    token = data.get("token")
    refresh = data.get("refresh_token")
    if token is not None and not isinstance(token, str):
        raise EsBodyError(400, "x_content_parse_exception", "[saml_logout] token must be a string")
    if refresh is not None and not isinstance(refresh, str):
        raise EsBodyError(
            400, "x_content_parse_exception", "[saml_logout] refresh_token must be a string"
        )
    if not token:
        raise EsBodyError(
            400, "action_request_validation_exception", "Validation Failed: 1: token is missing;"
        )
    return LogoutBody(token, refresh or None)


def strip_json_comments(text: str) -> str:
    """`/* … */` and `// …` removed outside strings: Elasticsearch's JSON parser
    allows comments (Jackson ALLOW_COMMENTS), so the gateway must read past them."""
    out: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ValueError("unterminated comment")
            out.append(" ")
            i = end + 1
        elif text.startswith("//", i):
            # Jackson ends a line comment at LF or at a bare CR.
            ends = [e for e in (text.find("\n", i), text.find("\r", i)) if e >= 0]
            i = min(ends) - 1 if ends else n - 1
            out.append(" ")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def decode_json_text(body: bytes) -> str:
    """JSON bytes in any encoding Elasticsearch auto-detects (UTF-8 with or
    without BOM, UTF-16/32), as text; UnicodeError when none fits."""
    return body.decode(json.detect_encoding(body))


def refresh_tokens(body: bytes | None) -> list[str] | None:
    """Every `refresh_token` string in an oauth2/token request body, at any
    depth, duplicates included (the caller checks each against the deny list).

    None when the body cannot be read as JSON the way Elasticsearch reads it:
    the caller refuses it rather than forwarding what it could not check.
    """
    if not body or not body.strip():
        return []
    found: list[str] = []

    def collect(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        for key, value in pairs:
            if key == "refresh_token" and isinstance(value, str) and value:
                found.append(value)
        return dict(pairs)

    try:
        text = decode_json_text(body)
        if text.startswith("\ufeff"):
            text = text[1:]
        if "/" in text:
            text = strip_json_comments(text)
        json.loads(text, object_pairs_hook=collect)
    except (UnicodeError, ValueError, RecursionError):
        return None
    return found


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str | None
    username: str | None = None
    realm: str | None = None


def _object_or_none(body: bytes | None) -> dict[str, Any] | None:
    """A JSON object read leniently (learning never blocks anything), or None."""
    if not body:
        return None
    try:
        data = json.loads(decode_json_text(body))
    except (UnicodeError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def token_pair(body: bytes | None) -> TokenPair | None:
    """The token pair an authenticate / token answer carries, if any."""
    data = _object_or_none(body)
    access = _text(data, "access_token") if data is not None else None
    if data is None or access is None:
        return None
    return TokenPair(
        access, _text(data, "refresh_token"), _text(data, "username"), _text(data, "realm")
    )


def saml_content(body: bytes | None) -> str | None:
    """The `content` (base64 SAML Response) of an authenticate request body."""
    data = _object_or_none(body)
    return _text(data, "content") if data is not None else None
