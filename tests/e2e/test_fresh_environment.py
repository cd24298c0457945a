"""The scripts work under a bare environment (issue 18).

`scripts/record_flows.py` waited for mitmdump's "listening at" line on a pipe;
mitmdump's stdout is block-buffered when it is not a terminal, so the line only
arrived when the process exited unless the caller's shell happened to export
PYTHONUNBUFFERED. Run it the way CI and a new user do: `env -i` with only
PATH, a fresh HOME (no ~/.mitmproxy yet), LANG and CI.
"""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from mitmproxy.io import FlowReader

ROOT = Path(__file__).resolve().parents[2]


def bare_env(home: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "CI": "true",
    }


@pytest.mark.slow
def test_record_flows_under_a_bare_environment(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    out = tmp_path / "flows"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "record_flows.py"), "--out", str(out), "cas"],
        env=bare_env(home),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    path = out / "cas.mitm"
    with path.open("rb") as f:
        flows = list(FlowReader(f).stream())
    assert len(flows) > 10
    # the capture holds live session ids: owner-only (issue 11, item 6)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
