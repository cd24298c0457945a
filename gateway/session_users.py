"""Who a learned session belongs to: `sessions.user_header` (an extension to
SPEC §4.1, issue 15).

A reverse proxy never sees the CAS ticket validation that tells the upstream
who logged in (it is a server-to-server call), so a session cookie alone names
no user. Many SSO front-ends and Java apps can add a response header naming
the authenticated user; when the upstream's answer that sets a session cookie
carries that header, the session is recorded with the user and listed under
the user's index key (`gateway.principals.user_key`), so `POST /-/revoke
{"user": …}` finds it on every replica. The upstream is trusted for this as
for every other thing learned from its answers (docs/security.md).
"""

from __future__ import annotations

import logging

from gateway.http import Response

log = logging.getLogger("gateway")

MAX_USER_CHARS = 256


def session_user(resp: Response, header: str | None) -> str | None:
    """The user the header names, or None: no header configured or sent, more
    than one distinct value (ambiguous), or a value no user name has (too long,
    control or non-UTF-8 characters)."""
    if header is None:
        return None
    values = {v.strip() for v in resp.header_all(header)} - {""}
    if not values:
        return None
    if len(values) > 1:
        log.warning(
            "sessions.user_header: %d different values in one answer; user not learned", len(values)
        )
        return None
    user = values.pop()
    if len(user) > MAX_USER_CHARS or not user.isprintable():
        log.warning("sessions.user_header: value is not a user name; user not learned")
        return None
    return user
