"""Logging out tokens the client names (SPEC §6.3, §10.4, §10.5): each given token,
its learned pair, and every earlier pair of the same login (refreshes keep the
lineage), so a token that a refresh superseded but the upstream still honours dies
too. Shared by the routes that take tokens in their body (`saml_logout`,
`oidc_logout`, `token_invalidate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from gateway.credentials import TOKEN, Credential
from gateway.http import Request, Respond
from gateway.logouts.carried import refuse_revoked_carrier
from gateway.logouts.kit import LogoutKit, LogoutResult
from gateway.store import TokenRecord

__all__ = [
    "MixedSessions",
    "NamedRevocation",
    "TokenLogout",
    "named_tokens",
    "revoke_named",
    "token_outcome",
]


class MixedSessions(Exception):
    """The named tokens belong to two different learned logins: nothing is revoked
    (one of them may not be the caller's)."""


@dataclass(frozen=True, slots=True)
class TokenLogout:
    creds: list[Credential]  # the given tokens (and JWT ids), then the learned lineage
    record: TokenRecord | None  # what was learned about them, if anything
    first: str  # fingerprint of the first given token


async def named_tokens(
    kit: LogoutKit, tokens: Sequence[tuple[str, str]], now: float
) -> TokenLogout:
    """`tokens`: (raw value, field name) pairs, at least one. Raises StoreError and
    MixedSessions."""
    given: list[Credential] = []
    records: list[TokenRecord] = []
    for value, name in tokens:
        creds = kit.credentials.token(value, name)
        given += creds
        record = await kit.store.get_token(creds[0].fingerprint, now)
        if record is not None:
            records.append(record)
    if len({r.session_id for r in records}) > 1:
        raise MixedSessions("the tokens belong to different sessions")
    record = records[0] if records else None
    creds = list(given)
    if record is not None:
        known = {c.fingerprint for c in creds}
        creds += [
            Credential(TOKEN, "lineage", fp) for fp in record.fingerprints() if fp not in known
        ]
    return TokenLogout(creds, record, given[0].fingerprint)


def token_outcome(logout: TokenLogout, revoked_before: frozenset[str]) -> str:
    """The audit outcome, as for saml_logout: already_revoked (the first given token
    was), unknown_token (nothing learned; it is deny-listed all the same), success."""
    if logout.first in revoked_before:
        return "already_revoked"
    return "unknown_token" if logout.record is None else "success"


@dataclass(frozen=True, slots=True)
class NamedRevocation:
    logout: TokenLogout
    revoked_before: frozenset[str]  # which of `logout.creds` were revoked already
    done: LogoutResult  # with the token outcome


async def revoke_named(
    kit: LogoutKit,
    req: Request,
    route: str,
    tokens: Sequence[tuple[str, str]],
    now: float,
    *,
    forward: bool,
) -> NamedRevocation | Respond:
    """Revoke the named tokens with their lineage. When the call will be
    forwarded, a revoked credential of the caller's own that it does not log
    out is refused first (the Respond). Raises StoreError and MixedSessions."""
    logout = await named_tokens(kit, tokens, now)
    fingerprints = [c.fingerprint for c in logout.creds]
    if forward and (refused := await refuse_revoked_carrier(kit, req, route, fingerprints)):
        return refused
    revoked_before = await kit.store.revoked(fingerprints, now)
    done = await kit.revoke(logout.creds, revoked_before=revoked_before)
    outcome = token_outcome(logout, revoked_before)
    return NamedRevocation(logout, revoked_before, replace(done, outcome=outcome))
