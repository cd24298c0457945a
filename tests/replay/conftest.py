"""The recorded flows, (re)recorded when missing or stale."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "tests" / "flows"
RECORDER = ROOT / "scripts" / "record_flows.py"
SOURCES = (RECORDER, ROOT / "scripts" / "demo_upstream.py", ROOT / "scripts" / "children.py")
SCENARIOS = ("cas", "saml", "bad", "oidc", "slo")
JWKS = FLOWS / "oidc-jwks.json"  # the recorder's OP keys (public), for oidc.jwks_file


def _stale() -> bool:
    if not JWKS.exists():
        return True
    newest_source = max(p.stat().st_mtime for p in SOURCES)
    for name in SCENARIOS:
        path = FLOWS / f"{name}.mitm"
        if not path.exists() or path.stat().st_mtime < newest_source:
            return True
    return False


@pytest.fixture(scope="session")
def flows() -> dict[str, Path]:
    if _stale():
        spec = importlib.util.spec_from_file_location("record_flows", RECORDER)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.record(FLOWS, list(SCENARIOS))
    return {name: FLOWS / f"{name}.mitm" for name in SCENARIOS}
