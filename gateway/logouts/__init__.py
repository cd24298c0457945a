"""The logout routes, one module per route family.

Every family is a small class with the same interface (`LogoutRoutes`): the
route names it serves, whether a route reads the request body, and `handle`.
Each is built from a `LogoutKit` (store, audit, clock, config, credential
reader) plus what only it needs (e.g. the SAML signer) — never from the
engine — so the engine only dispatches. A new route family is one new
module here plus one line in `build_logout_routes`.
"""

from __future__ import annotations

from typing import Protocol

from gateway.http import Decision, Request
from gateway.logouts.cas import CasLogouts
from gateway.logouts.kit import LogoutKit, LogoutResult
from gateway.logouts.saml import SamlLogout
from gateway.saml.redirect_binding import Signer

__all__ = ["LogoutKit", "LogoutResult", "LogoutRoutes", "build_logout_routes"]


class LogoutRoutes(Protocol):
    """One family of logout routes."""

    routes: tuple[str, ...]  # the route names (config `routes.<name>`) it serves

    def reads_body(self, route: str) -> bool:
        """Whether the route reads the request body (so it is never streamed)."""
        ...

    async def handle(self, route: str, req: Request) -> Decision: ...


def build_logout_routes(kit: LogoutKit, *, signer: Signer | None) -> dict[str, LogoutRoutes]:
    """Route name → the family that handles it, for every route the config enables."""
    families: list[LogoutRoutes] = [CasLogouts(kit), SamlLogout(kit, signer)]
    enabled = {name for name, rc in kit.config.routes.by_name().items() if rc is not None}
    return {name: family for family in families for name in family.routes if name in enabled}
