"""The config's key lists are derived from its dataclasses (gateway.config.section_keys):
these pin that derivation to SPEC §4, so a field and its YAML key cannot drift apart."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import get_args

import pytest

from gateway.config import RoutesConfig, SAMLConfig, StoreConfig, parse_config
from gateway.config.loader import TOP_LEVEL_KEYS
from gateway.config.model import ROUTE_DEFAULTS, RouteDefaults, SigAlg
from gateway.config.section_keys import yaml_keys
from gateway.jwt_tokens.algorithms import JWT_ALGORITHMS, PUBLIC_KEY_ALGORITHMS


def test_top_level_keys_are_the_spec_ones() -> None:
    assert TOP_LEVEL_KEYS == tuple(
        (
            "listen mode upstream state_dir tls upstream_tls store audit sessions tokens routes"
            " cas saml limits oidc admin"
        ).split()
    )


def test_section_keys_are_the_field_names() -> None:
    assert yaml_keys(StoreConfig) == (
        "backend",
        "sqlite_path",
        "redis_url",
        "on_error",
        "fingerprint_key",
        "redis_sentinel",
        "min_replicas_ack",
    )
    assert yaml_keys(SAMLConfig) == tuple(f.name for f in dataclasses.fields(SAMLConfig))


def test_a_mapping_naming_no_field_is_refused() -> None:
    with pytest.raises(TypeError, match="StoreConfig has no field listen"):
        yaml_keys(StoreConfig, renamed={"listen": "x"})
    with pytest.raises(TypeError, match="has no field nope"):
        yaml_keys(StoreConfig, not_in_yaml=("nope",))


def test_routes_and_their_defaults_are_one_list() -> None:
    assert yaml_keys(RoutesConfig) == tuple(ROUTE_DEFAULTS)
    assert ROUTE_DEFAULTS == {
        "cas_logout": RouteDefaults("/cas/logout"),
        "logout_action": RouteDefaults("/web/v1/logout_action"),
        "saml_logout": RouteDefaults("/_security/saml/logout"),
        "oidc_logout": RouteDefaults("/_security/oidc/logout", "forward"),
        "token_invalidate": RouteDefaults("/_security/oauth2/token", "forward"),
        "oidc_backchannel": RouteDefaults("/-/oidc/backchannel-logout"),
        # SPEC §4.1, second round (issue 13): cas_slo has no path.
        "cas_slo": RouteDefaults(None),
        "saml_invalidate": RouteDefaults("/_security/saml/invalidate"),
        "saml_complete": RouteDefaults("/_security/saml/complete_logout"),
    }


def test_routes_by_name_follows_the_fields(tmp_path: Path) -> None:
    data = {"upstream": "http://127.0.0.1:9000", "routes": {"saml_logout": None}}
    config = parse_config({**data, "cas": {"server_url": "https://cas.example/cas"}}, tmp_path)
    routes = config.routes.by_name()
    assert list(routes) == list(ROUTE_DEFAULTS)
    assert routes["saml_logout"] is None
    assert routes["cas_logout"] == config.routes.cas_logout


def test_choices_come_from_the_literal_types() -> None:
    assert get_args(SigAlg) == ("rsa-sha256", "rsa-sha512", "ecdsa-sha256")


def test_one_jwt_algorithm_registry() -> None:
    assert frozenset(JWT_ALGORITHMS) == PUBLIC_KEY_ALGORITHMS
    assert len(JWT_ALGORITHMS) == len(PUBLIC_KEY_ALGORITHMS)
    assert not any(a.startswith("HS") or a == "none" for a in JWT_ALGORITHMS)
