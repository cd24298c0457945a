"""Helpers for tests that build a gateway in-process."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from gateway.audit import AuditLog
from gateway.config import Config, parse_config
from gateway.credentials import Fingerprinter
from gateway.engine import Gateway
from gateway.http import Request
from gateway.keys import load_idp_keys, load_protocol_keys
from gateway.oidc.keys import load_logout_token_verifier
from gateway.store import Store
from gateway.store.memory import MemoryStore

KEY = b"test-fingerprint-key-0123456789ab"


def make_config(tmp: Path, **overrides: Any) -> Config:
    data: dict[str, Any] = {
        "upstream": "http://127.0.0.1:9000",
        "state_dir": "state",
        "store": {"backend": "memory"},
        "audit": {"path": "audit.jsonl", "fsync": False},
        "routes": {"saml_logout": None},
        "cas": {
            "server_url": "https://cas.example.com:20009/cas",
            "service_url": "https://app.example.com/web/",
            "allowed_service_hosts": ["app.example.com"],
        },
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_config(data, tmp)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_gateway(
    tmp: Path, backend: Store | None = None, clock: Clock | None = None, **overrides: Any
) -> Gateway:
    config = make_config(tmp, **overrides)
    audit = AuditLog(config.audit.path, fsync=False)
    audit.open()
    signer, verifier = load_protocol_keys(config)  # as the runtime loads them
    return Gateway(
        config,
        backend or MemoryStore(),
        audit,
        Fingerprinter(KEY),
        clock or Clock(),
        signer=signer,
        jwt_verifier=verifier,
        logout_token_verifier=load_logout_token_verifier(config),
        idp_certificates=load_idp_keys(config),
    )


def req(
    method: str = "GET",
    target: str = "/",
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    body: bytes | None = None,
) -> Request:
    path, _, query = target.partition("?")
    items = headers.items() if isinstance(headers, dict) else (headers or [])
    return Request(
        method,
        path,
        query,
        tuple((k.lower(), v) for k, v in items),
        body,
        "192.0.2.7",
        "req-1",
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def audit_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


async def call_hook(hook: Any, flow: Any) -> None:
    """Call a mitmproxy hook as mitmproxy does: await what it returns, if anything."""
    result = hook(flow)
    if result is not None:
        await result
