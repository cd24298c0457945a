"""Config of the logouts started at the centre (issue 13, SPEC §4.1 / §10.1-§10.3):
`routes.cas_slo` (no path), `routes.saml_invalidate`, `routes.saml_complete`,
`cas.slo.*`, and when each route is active."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest
from test_config import errors_of, full, merge, minimal, ok, one_error, touch

from gateway.config import RouteConfig


def idp_ready(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """`full` plus everything the IdP-initiated routes need."""
    touch(tmp_path / "idp.crt")
    saml = {"idp_entity_id": "https://idp.example.com/idp", "idp_cert_file": "idp.crt"}
    return merge(full(tmp_path, saml=saml), extra)


# --------------------------------------------------------------------------- defaults


def test_slo_routes_are_inactive_until_their_keys_are_set(tmp_path: Path) -> None:
    # Configs written before issue 13 load unchanged: the new routes stay off.
    config = ok(full(tmp_path), tmp_path)
    assert config.routes.cas_slo is None
    assert config.routes.saml_invalidate is None
    assert config.routes.saml_complete is None
    assert config.cas.slo.allowed_sources == ()
    assert config.cas.slo.front_channel is False


def test_slo_routes_active_with_their_defaults_once_keys_are_set(tmp_path: Path) -> None:
    data = idp_ready(tmp_path, cas={"slo": {"allowed_sources": ["10.0.0.0/24"]}})
    config = ok(data, tmp_path)
    assert config.routes.cas_slo == RouteConfig(None, "short_circuit")
    assert config.routes.saml_invalidate == RouteConfig(
        "/_security/saml/invalidate", "short_circuit"
    )
    assert config.routes.saml_complete == RouteConfig(
        "/_security/saml/complete_logout", "short_circuit"
    )


def test_saml_complete_needs_less_than_saml_invalidate(tmp_path: Path) -> None:
    touch(tmp_path / "idp.crt")
    saml = {"idp_entity_id": "https://idp", "idp_cert_file": "idp.crt"}
    config = ok(minimal(saml=saml), tmp_path)
    assert config.routes.saml_complete is not None
    assert config.routes.saml_invalidate is None  # no sp_entity_id, idp_slo_url, key


def test_unsigned_saml_invalidate_needs_no_sp_key(tmp_path: Path) -> None:
    data = idp_ready(tmp_path, saml={"sign": False, "sp_key_file": None})
    assert ok(data, tmp_path).routes.saml_invalidate is not None


def test_null_disables_an_slo_route(tmp_path: Path) -> None:
    data = idp_ready(tmp_path, routes={"saml_invalidate": None, "cas_slo": None})
    data = merge(data, {"cas": {"slo": {"allowed_sources": ["10.0.0.1"]}}})
    config = ok(data, tmp_path)
    assert config.routes.saml_invalidate is None and config.routes.cas_slo is None
    assert config.routes.saml_complete is not None


def test_modes_and_paths_of_slo_routes(tmp_path: Path) -> None:
    routes = {
        "cas_slo": {"mode": "forward"},
        "saml_invalidate": {"path": "/api//invalidate/", "mode": "forward"},
        "saml_complete": {},
    }
    data = idp_ready(tmp_path, routes=routes, cas={"slo": {"allowed_sources": ["::1"]}})
    config = ok(data, tmp_path)
    assert config.routes.cas_slo == RouteConfig(None, "forward")
    assert config.routes.saml_invalidate == RouteConfig("/api/invalidate", "forward")
    assert config.routes.saml_complete == RouteConfig(
        "/_security/saml/complete_logout", "short_circuit"
    )


# --------------------------------------------------------------------------- required-when


def test_configured_slo_routes_name_every_missing_key(tmp_path: Path) -> None:
    routes = {"cas_slo": {"mode": "short_circuit"}, "saml_invalidate": {}, "saml_complete": {}}
    assert errors_of(minimal(routes=routes), tmp_path) == [
        "cas.slo.allowed_sources: required while routes.cas_slo is configured"
        " (a non-empty list of CIDRs the CAS server posts from)",
        "saml.sp_entity_id: required while routes.saml_invalidate is configured",
        "saml.idp_entity_id: required while routes.saml_invalidate is configured",
        "saml.idp_slo_url: required while routes.saml_invalidate is configured",
        "saml.idp_cert_file: required while routes.saml_invalidate is configured",
        "saml.sp_key_file: required while routes.saml_invalidate is configured"
        " and saml.sign is true",
    ]


def test_configured_saml_complete_alone(tmp_path: Path) -> None:
    data = minimal(routes={"saml_complete": {"mode": "forward"}})
    assert errors_of(data, tmp_path) == [
        "saml.idp_entity_id: required while routes.saml_complete is configured",
        "saml.idp_cert_file: required while routes.saml_complete is configured",
    ]


def test_invalid_slo_keys_are_reported_once(tmp_path: Path) -> None:
    data = minimal(
        routes={"saml_complete": {}, "cas_slo": {}},
        saml={"idp_entity_id": "https://idp", "idp_cert_file": "missing.crt"},
        cas={"slo": {"allowed_sources": ["not-an-address"]}},
    )
    errors = errors_of(data, tmp_path)
    assert len(errors) == 2, errors
    assert errors[0].startswith("cas.slo.allowed_sources[0]: invalid CIDR 'not-an-address'")
    assert errors[1] == f"saml.idp_cert_file: file not found: {tmp_path / 'missing.crt'}"


# --------------------------------------------------------------------------- cas_slo has no path


def test_cas_slo_refuses_a_path(tmp_path: Path) -> None:
    data = minimal(
        routes={"cas_slo": {"path": "/web/"}}, cas={"slo": {"allowed_sources": ["10.0.0.1"]}}
    )
    assert one_error(data, tmp_path) == (
        "routes.cas_slo.path: not allowed: this route is matched by content on any path"
    )


def test_other_routes_still_need_a_string_path(tmp_path: Path) -> None:
    error = one_error(minimal(routes={"cas_logout": {"path": None}}), tmp_path)
    assert error == "routes.cas_logout.path: must be a string (got null)"


def test_slo_route_path_clash_is_reported(tmp_path: Path) -> None:
    data = idp_ready(tmp_path, routes={"saml_complete": {"path": "/_security/saml/invalidate"}})
    assert one_error(data, tmp_path) == (
        "routes.saml_complete.path: same path as routes.saml_invalidate"
        " ('/_security/saml/invalidate')"
    )


# --------------------------------------------------------------------------- cas.slo


@pytest.mark.parametrize(
    ("value", "network"),
    [
        ("10.1.2.0/24", "10.1.2.0/24"),
        ("10.1.2.3", "10.1.2.3/32"),
        (" 192.0.2.7/32 ", "192.0.2.7/32"),
        ("2001:db8::/64", "2001:db8::/64"),
        ("::1", "::1/128"),
        ("0.0.0.0/0", "0.0.0.0/0"),
    ],
)
def test_allowed_sources_accepts(tmp_path: Path, value: str, network: str) -> None:
    config = ok(minimal(cas={"slo": {"allowed_sources": [value]}}), tmp_path)
    assert config.cas.slo.allowed_sources == (ip_network(network),)
    assert config.routes.cas_slo == RouteConfig(None, "short_circuit")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("10.1.2.3/24", "'10.1.2.3/24' has host bits set (did you mean '10.1.2.0/24'"),
        ("10.1.2.300", "invalid CIDR '10.1.2.300'"),
        ("10.0.0.0/33", "invalid CIDR '10.0.0.0/33'"),
        ("fe80::1%eth0", "zone ids are not supported"),
        ("cas.example.com", "invalid CIDR 'cas.example.com'"),
        (5, 'must be a CIDR string such as "10.0.0.0/24" (got 5)'),
    ],
)
def test_allowed_sources_refuses(tmp_path: Path, value: object, problem: str) -> None:
    error = one_error(minimal(cas={"slo": {"allowed_sources": [value]}}), tmp_path)
    assert error.startswith("cas.slo.allowed_sources[0]: ")
    assert problem in error


def test_allowed_sources_duplicates_collapse_and_empty_list_is_inactive(tmp_path: Path) -> None:
    config = ok(minimal(cas={"slo": {"allowed_sources": ["10.0.0.1", "10.0.0.1/32"]}}), tmp_path)
    assert config.cas.slo.allowed_sources == (ip_network("10.0.0.1/32"),)
    config = ok(minimal(cas={"slo": {"allowed_sources": [], "front_channel": True}}), tmp_path)
    assert config.routes.cas_slo is None and config.cas.slo.front_channel is True


def test_cas_slo_section_errors(tmp_path: Path) -> None:
    errors = errors_of(
        minimal(cas={"slo": {"allowed_sources": "10.0.0.1", "front_channel": "yes", "x": 1}}),
        tmp_path,
    )
    assert errors == [
        "cas.slo.x: unknown key",
        "cas.slo.allowed_sources: must be a list (got '10.0.0.1')",
        "cas.slo.front_channel: must be true or false (got 'yes')",
    ]
    assert (
        one_error(minimal(cas={"slo": []}), tmp_path) == "cas.slo: must be a mapping (got a list)"
    )


# --------------------------------------------------------------------------- keys at start-up


def test_idp_certificate_problems_are_reported_by_gateway_check(tmp_path: Path) -> None:
    from gateway.checks import deep_check
    from gateway.keys import load_idp_keys
    from gateway.saml.keys import generate_sp_keypair

    data = idp_ready(tmp_path)  # idp.crt holds "x": not a certificate
    config = ok(data, tmp_path)
    with pytest.raises(ValueError, match=r"^saml\.idp_cert_file: .*not a PEM certificate"):
        load_idp_keys(config)
    assert any(p.startswith("saml.idp_cert_file: ") for p in deep_check(config))

    # several certificates (a key rollover) are all loaded; a key file is refused
    old_key, old_cert = generate_sp_keypair(tmp_path / "old", alg="ec")
    _, new_cert = generate_sp_keypair(tmp_path / "new", alg="ec")
    both = tmp_path / "both.crt"
    both.write_bytes(old_cert.read_bytes() + new_cert.read_bytes())
    config = ok(merge(data, {"saml": {"idp_cert_file": str(both)}}), tmp_path)
    assert len(load_idp_keys(config)) == 2
    config = ok(merge(data, {"saml": {"idp_cert_file": str(old_key)}}), tmp_path)
    with pytest.raises(ValueError, match="not a PEM certificate"):
        load_idp_keys(config)


def test_idp_keys_are_not_loaded_while_no_route_needs_them(tmp_path: Path) -> None:
    from gateway.keys import load_idp_keys

    data = idp_ready(tmp_path, routes={"saml_invalidate": None, "saml_complete": None})
    assert load_idp_keys(ok(data, tmp_path)) == ()


def test_weak_idp_keys_are_refused(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    from gateway.saml.idp_keys import load_idp_certificates

    def cert_for(key: Any) -> Path:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        path = tmp_path / f"{id(key)}.crt"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    with pytest.raises(ValueError, match="RSA key of 1024 bits refused"):
        load_idp_certificates(
            cert_for(rsa.generate_private_key(public_exponent=65537, key_size=1024))
        )
    with pytest.raises(ValueError, match="only RSA and EC P-256"):
        load_idp_certificates(cert_for(ec.generate_private_key(ec.SECP384R1())))
