"""What an Elasticsearch OIDC realm's ``POST /_security/oidc/authenticate`` answer
teaches (SPEC §10.4): the token pair, the user, the realm, and the OP's session
(``sid``) and subject (``sub``) that a back-channel logout will name.

Elasticsearch answers ``{"username", "access_token", "refresh_token", "expires_in",
"authentication": {"username", "metadata": {…}, "authentication_realm": {"name"}}}``;
with ``populate_user_metadata`` (its default) the metadata holds every simple claim of
the ID token and user info as ``oidc(<claim>)``: ``oidc(sub)``, ``oidc(sid)``,
``oidc(iss)``. Read leniently: learning never blocks a login, and a missing field
only means less to find the tokens by later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gateway.es_bodies import TokenPair, decode_json_text

__all__ = ["OidcLogin", "oidc_login"]


@dataclass(frozen=True, slots=True)
class OidcLogin:
    pair: TokenPair
    issuer: str | None  # oidc(iss): which OP the session is at
    sub: str | None
    sid: str | None


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def oidc_login(body: bytes | None, principal_claim: str) -> OidcLogin | None:
    """The login an authenticate answer carries, or None (no access token in it).

    Without ``oidc(sub)`` in the metadata (``populate_user_metadata: false``), the
    subject is still known when the realm takes the username from ``sub``
    (``oidc.principal_claim: sub``, the Elasticsearch default)."""
    if not body:
        return None
    try:
        data = json.loads(decode_json_text(body))
    except (UnicodeError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or (access := _text(data, "access_token")) is None:
        return None
    auth = _object(data.get("authentication"))
    metadata = _object(auth.get("metadata"))
    username = _text(data, "username") or _text(auth, "username")
    realm = _text(data, "realm") or _text(_object(auth.get("authentication_realm")), "name")
    sub = _text(metadata, "oidc(sub)")
    if sub is None and principal_claim == "sub":
        sub = username
    return OidcLogin(
        pair=TokenPair(access, _text(data, "refresh_token"), username, realm),
        issuer=_text(metadata, "oidc(iss)"),
        sub=sub,
        sid=_text(metadata, "oidc(sid)"),
    )
