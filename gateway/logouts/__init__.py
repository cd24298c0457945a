"""The logout routes, one module per route family.

Every family is a small `RouteFamily` subclass (`family.py`): the route names
it serves, whether a request reads the body, `handle`, and — only where a
route needs it — which methods it claims on its path or how it recognises a
request that has no fixed path.
Each is built from a `LogoutKit` (store, audit, clock, config, credential
reader) plus what only it needs (e.g. the SAML signer) — never from the
engine — so the engine only dispatches. A new route family is one new
module here plus one line in `build_logout_routes`.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509

from gateway.logouts.cas import CasLogouts
from gateway.logouts.cas_slo import CasSingleLogout
from gateway.logouts.family import RouteFamily
from gateway.logouts.kit import LogoutKit, LogoutResult
from gateway.logouts.oidc_backchannel import OIDC_BACKCHANNEL, OidcBackchannel
from gateway.logouts.oidc_logout import OidcLogout
from gateway.logouts.saml import SamlLogout
from gateway.logouts.saml_complete import SamlComplete
from gateway.logouts.saml_invalidate import SamlInvalidate
from gateway.logouts.token_invalidate import TokenInvalidate
from gateway.oidc.logout_token import LogoutTokenVerifier
from gateway.saml.redirect_binding import Signer

__all__ = ["LogoutKit", "LogoutResult", "RouteFamily", "build_logout_routes"]


def build_logout_routes(
    kit: LogoutKit,
    *,
    signer: Signer | None,
    logout_token_verifier: LogoutTokenVerifier | None = None,
    idp_certificates: Sequence[x509.Certificate] = (),
) -> dict[str, RouteFamily]:
    """Route name → the family that handles it, for every route the config enables."""
    families: list[RouteFamily] = [
        CasLogouts(kit),
        SamlLogout(kit, signer),
        OidcLogout(kit),
        TokenInvalidate(kit),
    ]
    routes = kit.config.routes
    # Built only when enabled: they check at construction what they need.
    if routes.cas_slo is not None:
        families.append(CasSingleLogout(kit))
    if routes.saml_invalidate is not None:
        families.append(SamlInvalidate(kit, signer, idp_certificates))
    if routes.saml_complete is not None:
        families.append(SamlComplete(kit, idp_certificates))
    enabled = {name for name, rc in kit.config.routes.by_name().items() if rc is not None}
    if logout_token_verifier is not None:
        families.append(OidcBackchannel(kit, logout_token_verifier))
    else:
        # Inactive until oidc.issuer, client_id and jwks_file are set (SPEC §4.1):
        # until then its path is an ordinary path.
        enabled.discard(OIDC_BACKCHANNEL)
    return {name: family for family in families for name in family.routes if name in enabled}
