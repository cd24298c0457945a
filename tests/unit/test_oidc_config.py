"""The `oidc` section and the OIDC routes in the config (SPEC §4.1): defaults, the
keys required while a route needs them, and the JWKS checked at start-up and by
`gateway check`, naming the key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from oidctest import CLIENT_ID, ISSUER, OP

from gateway.config import ConfigError, RouteConfig, parse_config
from gateway.oidc.keys import load_logout_token_verifier

BASE = {"upstream": "http://127.0.0.1:9000", "routes": {"logout_action": None, "saml_logout": None}}


def config(tmp_path: Path, **extra: Any):
    data = {**BASE, **extra}
    if "routes" in extra:
        data["routes"] = {**BASE["routes"], **extra["routes"]}
    return parse_config(data, tmp_path)


def errors(tmp_path: Path, **extra: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config(tmp_path, **extra)
    return info.value.errors


@pytest.fixture(scope="module")
def jwks(tmp_path_factory) -> Path:
    return OP().write_jwks(tmp_path_factory.mktemp("op"))


def test_defaults(tmp_path):
    c = config(tmp_path)
    assert (c.oidc.issuer, c.oidc.client_id, c.oidc.jwks_file) == (None, None, None)
    assert (c.oidc.end_session_url, c.oidc.post_logout_redirect_url) == (None, None)
    assert c.oidc.principal_claim == "sub"
    assert c.routes.oidc_logout == RouteConfig("/_security/oidc/logout", "forward")
    assert c.routes.token_invalidate == RouteConfig("/_security/oauth2/token", "forward")
    assert c.routes.oidc_backchannel == RouteConfig("/-/oidc/backchannel-logout", "short_circuit")
    assert not c.oidc.verifies_logout_tokens()
    assert load_logout_token_verifier(c) is None  # the back-channel route stays inactive


def test_full_section(tmp_path, jwks):
    c = config(
        tmp_path,
        oidc={
            "issuer": ISSUER,
            "client_id": CLIENT_ID,
            "jwks_file": str(jwks),
            "end_session_url": "https://op.example.com/logout",
            "post_logout_redirect_url": "https://kibana.example.com/",
            "principal_claim": "email",
        },
        routes={"oidc_logout": {"mode": "short_circuit"}},
    )
    assert c.oidc.verifies_logout_tokens() and c.oidc.jwks_file == jwks
    assert load_logout_token_verifier(c) is not None


def test_unknown_and_bad_keys_are_named(tmp_path):
    assert errors(
        tmp_path,
        oidc={
            "issuer": "",
            "client": "x",
            "end_session_url": "javascript:alert(1)",
            "post_logout_redirect_url": "https://a.example/ b",
            "principal_claim": "a b",
            "jwks_file": "missing.json",
        },
    ) == [
        "oidc.client: unknown key (did you mean 'client_id'?)",
        "oidc.issuer: must not be empty (use null to leave it unset)",
        f"oidc.jwks_file: file not found: {tmp_path / 'missing.json'}",
        "oidc.end_session_url: must be an absolute http:// or https:// URL (got 'javascript:alert(1)')",
        "oidc.post_logout_redirect_url: must not contain whitespace, control characters or backslashes",
        "oidc.principal_claim: must be a claim name without whitespace or control characters (got 'a b')",
        "oidc.client_id: required while oidc.issuer is set and routes.oidc_backchannel is enabled"
        " (set all of issuer, client_id, jwks_file, or routes.oidc_backchannel: null)",
    ]


def test_short_circuit_oidc_logout_needs_the_end_session_url(tmp_path):
    assert errors(tmp_path, routes={"oidc_logout": {"mode": "short_circuit"}}) == [
        "oidc.end_session_url: required while routes.oidc_logout is in short_circuit mode"
    ]
    assert errors(
        tmp_path,
        routes={"oidc_logout": {"mode": "short_circuit"}},
        oidc={
            "end_session_url": "https://op.example.com/logout",
            "post_logout_redirect_url": "https://kibana.example.com/",
        },
    ) == [
        "oidc.client_id: required while routes.oidc_logout is in short_circuit mode"
        " with oidc.post_logout_redirect_url"
    ]
    # forward (the default) needs nothing: the upstream builds the redirect
    assert config(tmp_path).routes.oidc_logout is not None


def test_half_configured_backchannel_names_the_missing_keys(tmp_path, jwks):
    problems = errors(tmp_path, oidc={"issuer": ISSUER, "jwks_file": str(jwks)})
    assert problems == [
        "oidc.client_id: required while oidc.issuer is set and routes.oidc_backchannel is "
        "enabled (set all of issuer, client_id, jwks_file, or routes.oidc_backchannel: null)"
    ]
    # the back-channel route disabled: a client_id alone (for the redirect) is fine
    c = config(tmp_path, oidc={"client_id": CLIENT_ID}, routes={"oidc_backchannel": None})
    assert c.routes.oidc_backchannel is None


def test_a_missing_jwks_file_is_not_also_reported_as_required(tmp_path):
    problems = errors(tmp_path, oidc={"issuer": ISSUER, "client_id": "c", "jwks_file": "nope"})
    assert problems == [f"oidc.jwks_file: file not found: {tmp_path / 'nope'}"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{", "not valid JSON"),
        ('{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}', "HMAC is never accepted"),
        ('{"keys": []}', "holds no public signature key"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "private key"),
    ],
)
def test_unusable_jwks_is_a_startup_error_naming_the_key(tmp_path, content, problem):
    path = tmp_path / "jwks.json"
    path.write_text(content)
    c = config(tmp_path, oidc={"issuer": ISSUER, "client_id": "c", "jwks_file": str(path)})
    with pytest.raises(ValueError, match=problem) as info:
        load_logout_token_verifier(c)
    assert str(info.value).startswith(f"oidc.jwks_file: {path}: ")


def test_jwks_with_a_private_jwk_is_refused(tmp_path):
    document = OP().jwks()
    document["keys"][1]["d"] = "c2VjcmV0"
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(document))
    c = config(tmp_path, oidc={"issuer": ISSUER, "client_id": "c", "jwks_file": str(path)})
    with pytest.raises(ValueError, match=r"oidc.jwks_file: .*private key"):
        load_logout_token_verifier(c)


def test_gateway_check_names_the_jwks_problem(tmp_path):
    bad = tmp_path / "jwks.json"
    bad.write_text('{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}')
    data = {
        **BASE,
        "state_dir": "state",
        "store": {"backend": "memory"},
        "oidc": {"issuer": ISSUER, "client_id": "c", "jwks_file": str(bad)},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"oidc.jwks_file: {bad}: JWK 0: symmetric key" in result.stderr
