"""Which logouts started at the centre are active (SPEC §10.1-§10.3), and their
required-when rules.

SPEC §4.1 lists `cas_slo`, `saml_invalidate` and `saml_complete` with defaults
(so enabled), and their keys as "required only while a route that needs them is
enabled". Configs written before these routes existed (no CAS SLO sources, no
IdP certificate) must keep loading unchanged, so:

* a route the file does not mention is active only once everything it needs is
  set; until then it is inactive (None in `RoutesConfig`) and its path is an
  ordinary path (`cas_slo`: such POSTs reach the upstream untouched, SPEC §10.1);
* a route the file configures (a mapping under `routes.<name>`) must have what
  it needs: each missing key is an error naming the key and the route.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection

from gateway.config.errors import ErrorCollector
from gateway.config.model import CASConfig, RoutesConfig, SAMLConfig

__all__ = ["REQUIREMENTS", "activate_slo_routes", "missing_keys"]

# key path → "is it set?", judged on the parsed config.
Requirement = tuple[str, Callable[[CASConfig, SAMLConfig], bool]]

REQUIREMENTS: dict[str, tuple[Requirement, ...]] = {
    "cas_slo": (("cas.slo.allowed_sources", lambda cas, saml: bool(cas.slo.allowed_sources)),),
    "saml_invalidate": (
        ("saml.sp_entity_id", lambda cas, saml: saml.sp_entity_id is not None),
        ("saml.idp_entity_id", lambda cas, saml: saml.idp_entity_id is not None),
        ("saml.idp_slo_url", lambda cas, saml: saml.idp_slo_url is not None),
        ("saml.idp_cert_file", lambda cas, saml: saml.idp_cert_file is not None),
        # The LogoutResponse is signed like our LogoutRequests (saml.sign).
        ("saml.sp_key_file", lambda cas, saml: not saml.sign or saml.sp_key_file is not None),
    ),
    "saml_complete": (
        ("saml.idp_entity_id", lambda cas, saml: saml.idp_entity_id is not None),
        ("saml.idp_cert_file", lambda cas, saml: saml.idp_cert_file is not None),
    ),
}


def missing_keys(route: str, cas: CASConfig, saml: SAMLConfig) -> list[str]:
    """The keys `route` needs that are not set."""
    return [key for key, is_set in REQUIREMENTS[route] if not is_set(cas, saml)]


def activate_slo_routes(
    errors: ErrorCollector,
    routes: RoutesConfig,
    explicit: Collection[str],
    cas: CASConfig,
    saml: SAMLConfig,
) -> RoutesConfig:
    """`routes` with the SLO routes that lack what they need switched off, and an
    error for each missing key of a route the file configures (`explicit`)."""
    if "routes" in errors.paths:
        return routes  # the routes section itself is unusable; more would be noise
    inactive: dict[str, None] = {}
    for route in REQUIREMENTS:
        if getattr(routes, route) is None:
            continue  # disabled by the file (null)
        missing = missing_keys(route, cas, saml)
        if not missing:
            continue
        inactive[route] = None
        if route not in explicit:
            continue
        for key in missing:
            if errors.at_or_above(key) or any(p.startswith(key + "[") for p in errors.paths):
                continue  # already reported (invalid value, or for another route)
            problem = f"required while routes.{route} is configured"
            if key == "saml.sp_key_file":
                problem += " and saml.sign is true"
            elif key == "cas.slo.allowed_sources":
                problem += " (a non-empty list of CIDRs the CAS server posts from)"
            errors.add(key, problem)
    return dataclasses.replace(routes, **inactive) if inactive else routes
