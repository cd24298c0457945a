"""Load and validate the gateway's YAML config file (SPEC §4).

Every problem is collected with its key path (``saml.sp_key_file: file not found: …``) and
reported at once, so an operator fixes a config in one pass instead of one error per run.

One concern per module:

* ``model`` - the result: one frozen dataclass per section, Literal types for choices;
* ``values`` / ``addresses`` / ``files`` - parsers for single values;
* ``section_keys`` - a section's YAML keys, derived from its dataclass;
* ``reader`` / ``errors`` - reading one mapping, collecting every problem;
* ``sections`` - each section read into its dataclass, and cross-section rules;
* ``loader`` / ``yaml_source`` - the entry points, YAML errors and duplicate keys.
"""

from __future__ import annotations

from gateway.config.errors import ConfigError
from gateway.config.loader import load_config, parse_config
from gateway.config.model import (
    AuditConfig,
    AuditFloodConfig,
    CASConfig,
    Config,
    JWTConfig,
    LimitsConfig,
    OIDCConfig,
    RedisSentinelConfig,
    RouteConfig,
    RoutesConfig,
    SAMLConfig,
    SessionsConfig,
    StoreConfig,
    TLSConfig,
    TokensConfig,
    UpstreamTLSConfig,
)
from gateway.config.values import parse_duration

__all__ = [
    "AuditConfig",
    "AuditFloodConfig",
    "CASConfig",
    "Config",
    "ConfigError",
    "JWTConfig",
    "LimitsConfig",
    "OIDCConfig",
    "RedisSentinelConfig",
    "RouteConfig",
    "RoutesConfig",
    "SAMLConfig",
    "SessionsConfig",
    "StoreConfig",
    "TLSConfig",
    "TokensConfig",
    "UpstreamTLSConfig",
    "load_config",
    "parse_config",
    "parse_duration",
]
