"""The bodies of the Elasticsearch token APIs the OIDC round adds (SPEC §10.4-§10.5):
`POST /_security/oidc/logout` and `DELETE /_security/oauth2/token`.

Parsing only, the way Elasticsearch parses them (strict: unknown or duplicate
fields, wrong types are errors), so that the gateway never revokes one thing while
the upstream reads another. Errors are `EsBodyError`s carrying the
Elasticsearch-style answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.es_bodies import EsBodyError, LogoutBody, load_object

__all__ = ["InvalidateBody", "parse_invalidate_token", "parse_oidc_logout"]

_VALIDATION = "action_request_validation_exception"
_PARSE = "x_content_parse_exception"


def _strings(data: dict[str, Any], parser: str, allowed: tuple[str, ...]) -> dict[str, str]:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise EsBodyError(400, _PARSE, f"[{parser}] unknown field [{unknown[0]}]")
    out: dict[str, str] = {}
    for key in allowed:
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise EsBodyError(400, _PARSE, f"[{parser}] {key} must be a string")
        out[key] = value
    return out


def parse_oidc_logout(body: bytes | None) -> LogoutBody:
    """`{"token": str, "refresh_token": str?}`; Elasticsearch's parser reads
    `token` (its docs once said `access_token`)."""
    missing = EsBodyError(400, _VALIDATION, "Validation Failed: 1: token is missing;")
    if not body or not body.strip():
        raise missing
    fields = _strings(load_object(body), "oidc_logout", ("token", "refresh_token"))
    token = fields.get("token")
    if not token:
        raise missing
    return LogoutBody(token, fields.get("refresh_token") or None)


@dataclass(frozen=True, slots=True)
class InvalidateBody:
    """What a `DELETE /_security/oauth2/token` names: one token, or a user and/or realm."""

    token: str | None
    token_field: str | None  # "token" | "refresh_token" (which field held it)
    realm_name: str | None
    username: str | None


def parse_invalidate_token(body: bytes | None) -> InvalidateBody:
    """Elasticsearch's `invalidate_token` parser and its request validation:
    `token` | `refresh_token` (exactly one) | `realm_name` and/or `username`.
    Values with no text count as absent, as there (`Strings.hasText`)."""
    if not body or not body.strip():
        raise EsBodyError(400, "parse_exception", "request body is required")
    fields = _strings(
        load_object(body), "invalidate_token", ("token", "refresh_token", "realm_name", "username")
    )
    token, refresh = fields.get("token"), fields.get("refresh_token")
    if token and refresh:
        raise EsBodyError(
            400,
            "illegal_argument_exception",
            "only one of [token, refresh_token] may be sent per request",
        )
    field = "token" if token else "refresh_token" if refresh else None
    value = token or refresh or None

    def text(key: str) -> str | None:
        v = fields.get(key)
        return v if v is not None and v.strip() else None

    realm, user = text("realm_name"), text("username")
    if realm is not None or user is not None:
        if value is not None and value.strip():
            raise EsBodyError(
                400,
                _VALIDATION,
                "Validation Failed: 1: token string must not be provided when realm name "
                "or username is specified;",
            )
        if value is not None:
            raise EsBodyError(
                400,
                _VALIDATION,
                "Validation Failed: 1: token type must not be provided when realm name "
                "or username is specified;",
            )
        return InvalidateBody(None, None, realm, user)
    if value is None or not value.strip():
        raise EsBodyError(
            400,
            _VALIDATION,
            "Validation Failed: 1: token string must be provided when not specifying a "
            "realm name or a username;",
        )
    return InvalidateBody(value, field, None, None)
