"""The bodies of Elasticsearch's IdP-side SAML logout APIs (SPEC §10.2, §10.3):
`POST /_security/saml/invalidate` and `POST /_security/saml/complete_logout`.

Parsing only, the way `gateway.es_bodies` reads `saml/logout`: strict JSON (no
duplicate fields), unknown fields refused, an `EsBodyError` with the
Elasticsearch-style 400 to answer with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.es_bodies import EsBodyError, _load_object

MAX_IDS = 100  # LogoutRequest IDs a complete_logout may list


@dataclass(frozen=True, slots=True)
class InvalidateBody:
    query_string: str  # the IdP's redirect query as the browser got it, without "?"
    realm: str | None
    acs: str | None


@dataclass(frozen=True, slots=True)
class CompleteBody:
    ids: tuple[str, ...]
    realm: str | None
    query_string: str | None  # Redirect binding
    content: str | None  # POST binding: base64 XML


def _missing(field: str) -> EsBodyError:
    return EsBodyError(
        400, "action_request_validation_exception", f"Validation Failed: 1: {field} is missing;"
    )


def _object(api: str, body: bytes | None, allowed: set[str], required: str) -> dict[str, Any]:
    if not body or not body.strip():
        raise _missing(required)
    data = _load_object(body)
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise EsBodyError(400, "x_content_parse_exception", f"[{api}] unknown field [{unknown[0]}]")
    return data


def _string(api: str, data: dict[str, Any], field: str) -> str | None:
    value = data.get(field)
    if value is not None and not isinstance(value, str):
        raise EsBodyError(400, "x_content_parse_exception", f"[{api}] {field} must be a string")
    return value or None


def _query(value: str | None) -> str | None:
    # Kibana sends the query without its "?"; a client that kept it is not wrong.
    return value[1:] if value and value.startswith("?") else value


def parse_saml_invalidate(body: bytes | None) -> InvalidateBody:
    """`{"query_string": str, "realm"?: str, "acs"?: str}`; `queryString` is the
    older spelling (REFERENCE: accept both), but not both at once."""
    api = "saml_invalidate"
    data = _object(api, body, {"query_string", "queryString", "realm", "acs"}, "query_string")
    if "query_string" in data and "queryString" in data:
        raise EsBodyError(
            400, "x_content_parse_exception", f"[{api}] query_string given twice (and queryString)"
        )
    query = _query(_string(api, data, "query_string") or _string(api, data, "queryString"))
    if not query:
        raise _missing("query_string")
    return InvalidateBody(query, _string(api, data, "realm"), _string(api, data, "acs"))


def parse_saml_complete(body: bytes | None) -> CompleteBody:
    """`{"ids": [str], "realm"?: str, "query_string"? | "content"?}`: exactly one
    of the two bindings."""
    api = "saml_complete_logout"
    data = _object(api, body, {"ids", "realm", "query_string", "content"}, "ids")
    ids = data.get("ids")
    if ids is None:
        raise _missing("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise EsBodyError(
            400, "x_content_parse_exception", f"[{api}] ids must be a list of non-empty strings"
        )
    if not ids:
        raise _missing("ids")
    if len(ids) > MAX_IDS:
        raise EsBodyError(400, "illegal_argument_exception", f"[{api}] more than {MAX_IDS} ids")
    query = _query(_string(api, data, "query_string"))
    content = _string(api, data, "content")
    if (query is None) == (content is None):
        raise EsBodyError(
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: exactly one of query_string or content is required;",
        )
    return CompleteBody(tuple(dict.fromkeys(ids)), _string(api, data, "realm"), query, content)
