"""The gateway config files the bench writes, and the SP keys its SAML routes sign with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .workload import FP_KEY, SESSION_COOKIE


def gateway_config(
    tmp: Path,
    name: str,
    port: int,
    upstream_port: int,
    store: dict[str, Any],
    saml_alg: str | None,
    key_file: Path | None,
    fsync: bool = True,
) -> dict[str, Any]:
    state = tmp / name
    state.mkdir(exist_ok=True)
    data: dict[str, Any] = {
        "listen": f"127.0.0.1:{port}",
        "upstream": f"http://127.0.0.1:{upstream_port}",
        "state_dir": str(state),
        "store": {"fingerprint_key": FP_KEY, "on_error": "deny", **store},
        "audit": {"path": str(state / "audit.jsonl"), "fsync": fsync},
        "sessions": {"cookies": [SESSION_COOKIE]},
        "cas": {
            "server_url": "https://cas.example.com:20009/cas",
            "service_url": "https://app.example.com/web/",
        },
        "routes": {"saml_logout": None},
    }
    if saml_alg is not None and key_file is not None:
        data["routes"] = {}
        data["saml"] = {
            "sp_entity_id": "https://app.example.com/sp",
            "idp_entity_id": "https://idp.example.com/idp",
            "idp_slo_url": "https://idp.example.com/idp/slo",
            "sign": True,
            "sig_alg": saml_alg,
            "sp_key_file": str(key_file),
        }
    return data


def write_config(tmp: Path, name: str, data: dict[str, Any]) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(json.dumps(data, indent=1))  # JSON is YAML
    return path


def make_keys(tmp: Path) -> dict[str, Path]:
    """SP signing keys: RSA-2048 and EC P-256 as the issue asks, and RSA-3072
    (what scripts/gen-sp-keys creates by default)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    keys: dict[str, Any] = {
        "rsa2048": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "rsa3072": rsa.generate_private_key(public_exponent=65537, key_size=3072),
        "ecp256": ec.generate_private_key(ec.SECP256R1()),
    }
    paths = {}
    for name, key in keys.items():
        path = tmp / f"sp-{name}.pem"
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)
        paths[name] = path
    return paths
