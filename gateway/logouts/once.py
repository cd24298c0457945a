"""Replay protection for logout messages that revoke (IdP LogoutRequests, OIDC
logout tokens): check first, revoke, claim last.

Claiming first would turn a store failure between claim and revocation into a
lost logout: the sender's retry of the same message would be refused as a
replay while nothing was revoked. Claiming last leaves a small window in
which two copies of one message arriving at once both revoke — the same
credentials, which is harmless.
"""

from __future__ import annotations

import logging

from gateway.logouts.kit import LogoutKit
from gateway.store import StoreError

log = logging.getLogger("gateway")


async def remember_once(kit: LogoutKit, scope: str, key: str, until: float, now: float) -> None:
    """Record a message ID after its logout is done. Never fails the logout:
    it is done; without the record a replay would only revoke again."""
    try:
        if not await kit.store.claim_once(scope, key, until, now):
            log.info("%s: a copy of this message was handled at the same time", scope)
    except StoreError as exc:
        log.warning(
            "%s: logout done, but its message ID could not be recorded (a replay "
            "before it expires would revoke the same credentials again): %s",
            scope,
            exc,
        )
