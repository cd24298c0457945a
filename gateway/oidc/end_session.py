"""The RP-initiated logout redirect (OpenID Connect RP-Initiated Logout 1.0 §2),
for `oidc_logout` in short_circuit mode (SPEC §10.4).

The gateway has no ID token, so no ``id_token_hint``: ``client_id`` tells the OP
which client asks (and lets it accept ``post_logout_redirect_uri``), and ``state``
is a fresh random value the OP hands back with the redirect.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

__all__ = ["end_session_redirect"]


def end_session_redirect(
    end_session_url: str, *, client_id: str | None, post_logout_redirect_url: str | None
) -> str:
    """``end_session_url`` with ``client_id``, ``post_logout_redirect_uri`` (each when
    configured) and a random ``state``, form-encoded; a query the configured URL
    already has is kept (some OPs put a policy there)."""
    params: list[tuple[str, str]] = []
    if client_id is not None:
        params.append(("client_id", client_id))
    if post_logout_redirect_url is not None:
        params.append(("post_logout_redirect_uri", post_logout_redirect_url))
    params.append(("state", secrets.token_urlsafe(24)))  # 192 bits
    separator = "&" if "?" in end_session_url else "?"
    return end_session_url + separator + urlencode(params)
