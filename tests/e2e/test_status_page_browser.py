"""Issue 15: the status page in a real browser. Headless Chromium (Debian
package `chromium`, installed by ./scripts/test) loads `GET /` from a running
`gateway run` after a few logouts; the test reads the DOM as rendered after
the page's scripts ran and saves a screenshot under the test's tmp dir."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from procs import request, running_gateway
from test_admin_e2e import cookie, gateway_config, login_as, revoke

pytestmark = pytest.mark.slow

API = "/web/api/v2/clusters"


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("chromium not found: ./scripts/test installs it (Debian package chromium)")


def headless(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    argv = [
        chromium(),
        "--headless",
        "--no-sandbox",  # root in a container: the setuid sandbox cannot start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path)


def text_of(html: str) -> str:
    """The page's visible text, roughly: tags out, whitespace folded."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_status_page_renders_in_chromium(tmp_path, upstream):
    config, token = gateway_config(tmp_path, upstream)
    with running_gateway(config) as gw:
        # a few logouts: two manual CAS logouts, one timeout, one admin revoke
        for user in ("gina", "hank"):
            sid = login_as(upstream, gw.port, user)
            assert request(gw.port, "POST", "/cas/logout", cookie(sid))[0] == 200
            assert request(gw.port, "GET", API, cookie(sid))[0] == 401
        sid = login_as(upstream, gw.port, "ivan")
        assert (
            request(gw.port, "GET", "/web/v1/logout_action?is_timeout_logout=true", cookie(sid))[0]
            == 302
        )
        sid = login_as(upstream, gw.port, "judy")
        assert revoke(gw.admin_port, token, {"user": "judy"})[0] == 200

        url = f"http://127.0.0.1:{gw.admin_port}/"
        dumped = headless(tmp_path, "--dump-dom", url)
        assert dumped.returncode == 0, dumped.stderr[-2000:]
        dom = dumped.stdout
        shot = tmp_path / "status.png"
        taken = headless(tmp_path, f"--screenshot={shot}", "--window-size=1280,1500", url)
        assert taken.returncode == 0, taken.stderr[-2000:]

    text = text_of(dom)
    assert "Logout gateway" in text
    # counts since start: 4 logouts, 2 uses of a revoked session refused
    assert re.search(r'id="count-logouts"><div class="v">4<', dom), text
    assert re.search(r'id="count-revoked-uses"><div class="v">2<', dom), text
    assert re.search(r'id="count-refused"><div class="v">2<', dom), text
    # the chart's legend: logouts per hour by reason
    for reason, n in (("manual", 2), ("timeout", 1), ("admin", 1), ("backchannel", 0)):
        assert f"{reason} {n}" in text, reason
    assert dom.count('<rect class="r-manual"') == 1 and '<rect class="r-admin"' in dom
    # the last audit records: fingerprints only (an admin revoke names its user)
    assert re.search(r"Last \d+ audit records \(fingerprints only\)", text)
    assert "judy" in text
    assert "revoked_credential_use" in text and "cas_logout" in text and "logout_action" in text
    assert len(re.findall(r"<code>[0-9a-f]{32}</code>", dom)) >= 6
    # the screenshot is a real PNG, big enough to hold the page
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000
