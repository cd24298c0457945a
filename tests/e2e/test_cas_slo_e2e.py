"""CAS single logout end to end (issue 13, SPEC §10.1), real processes only:

* django-cas-server, a real CAS server, with single logout enabled for the
  gateway's service URL (tests/cas_server_app.py);
* two `gateway run` replicas sharing one redis-server; the user logs in
  through replica A, and the CAS server posts its back-channel logoutRequests
  to replica B (`single_log_out_callback`, as a load balancer would);
* the demo upstream behind both.

After the user logs out at the CAS server, both replicas refuse the session
(401); a POST from a source outside `cas.slo.allowed_sources` (the client
socket bound to 127.0.0.2) changes nothing and is answered 403, audited.
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import subprocess
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import pytest
from children import child_env
from procs import BIN, PYTHON, ROOT, Proc, request, running_gateway, write_config
from secrets_registry import remember

pytestmark = pytest.mark.slow

API = "/web/api/v2/clusters"


class CasServer:
    """django-cas-server as its own process."""

    def __init__(self, folder: Path, service_pattern: str, slo_callback: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.password = "pw-" + secrets.token_urlsafe(16)
        remember(self.password)
        argv = [PYTHON, str(ROOT / "tests" / "cas_server_app.py"), "--dir", str(folder)]
        argv += ["--service-pattern", service_pattern, "--slo-callback", slo_callback]
        # The password through the environment (argv shows in `ps`); no proxy for
        # the CAS server's own single-logout POSTs.
        env = {"CAS_TEST_PASSWORD": self.password, "NO_PROXY": "*", "no_proxy": "*"}
        self.proc = Proc(
            argv, r"cas server listening on (http://\S+)", cwd=folder, env=child_env(env)
        )
        self.url = self.proc.wait_ready().group(1)
        self.port = urlsplit(self.url).port
        self.cookies: dict[str, str] = {}

    def _call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, str, str]:
        """(status, Location, page), keeping the CAS server's cookies (its SSO session)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            page = resp.read().decode()
        finally:
            conn.close()
        for value in resp.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.strip().partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return resp.status, resp.headers.get("Location", ""), page

    def login(self, service: str) -> str:
        """Log alice in for `service`; the service URL with its ticket."""
        status, location, page = self._call("GET", f"/cas/login?service={quote(service, safe='')}")
        if status == 302:  # already signed in: a ticket straight away (SSO)
            return location
        lt = re.search(r'name="lt" value="([^"]+)"', page)
        assert lt, "no login ticket on the CAS login page"
        form = {
            "lt": lt.group(1),
            "service": service,
            "username": "alice",
            "password": self.password,
        }
        status, location, _ = self._call("POST", "/cas/login", urlencode(form).encode())
        assert status == 302, f"CAS login answered {status}"
        return location

    def logout(self) -> int:
        """The user logs out at the CAS server; it sends its single-logout POSTs
        and waits for them before answering."""
        return self._call("GET", "/cas/logout")[0]


def ticket_login(gateway_port: int, location: str) -> tuple[str, str]:
    """Follow the CAS redirect through a gateway: (JSESSIONID, ticket)."""
    parts = urlsplit(location)
    ticket = parts.query.split("ticket=", 1)[1]
    status, headers, _ = request(gateway_port, "GET", f"{parts.path}?{parts.query}")
    assert status == 302, status
    for value in headers.get_all("Set-Cookie") or []:
        if value.startswith("JSESSIONID=") and not value.startswith("JSESSIONID=;"):
            sid = value.split(";", 1)[0].split("=", 1)[1]
            remember(sid, ticket)
            return sid, ticket
    raise AssertionError("the upstream set no session")


def use(port: int, sid: str) -> int:
    return request(port, "GET", API, {"Cookie": f"JSESSIONID={sid}"})[0]


def post_from(source: str, port: int, path: str, body: bytes) -> tuple[int, bytes]:
    """A POST whose TCP source address is `source` (loopback is a /8)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15, source_address=(source, 0))
    try:
        conn.request(
            "POST", path, body=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def audit(folder: Path) -> list[dict]:
    return [
        json.loads(line) for line in (folder / "state" / "audit.jsonl").read_text().splitlines()
    ]


def replica_config(folder: Path, upstream_url: str, redis_url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_config(
        folder,
        upstream_url,
        store={"backend": "redis", "redis_url": redis_url},
        cas={"slo": {"allowed_sources": ["127.0.0.1/32"]}},
    )


def test_logout_at_the_cas_server_is_refused_on_both_replicas(tmp_path, upstream, redis_server):
    redis_server.flush()
    config_a = replica_config(tmp_path / "a", upstream.url, redis_server.url)
    config_b = replica_config(tmp_path / "b", upstream.url, redis_server.url)
    with running_gateway(config_a) as a, running_gateway(config_b) as b:
        service = f"http://127.0.0.1:{a.port}/web/"
        cas = CasServer(
            tmp_path / "cas",
            service_pattern=f"^http://127\\.0\\.0\\.1:{a.port}/.*$",
            slo_callback=f"http://127.0.0.1:{b.port}/web/",
        )
        try:
            # Two logins through replica A with real tickets from the real server
            # (the second one by single sign-on, without the password).
            sid1, ticket1 = ticket_login(a.port, cas.login(service))
            sid2, ticket2 = ticket_login(a.port, cas.login(service))
            assert ticket1.startswith("ST-") and ticket2.startswith("ST-") and ticket1 != ticket2
            assert [use(p, s) for p in (a.port, b.port) for s in (sid1, sid2)] == [200] * 4

            # A forged back-channel POST from outside allowed_sources: 403, nothing changes.
            forged = urlencode(
                {
                    "logoutRequest": "<samlp:LogoutRequest xmlns:samlp="
                    '"urn:oasis:names:tc:SAML:2.0:protocol" ID="x" Version="2.0" '
                    'IssueInstant="2026-01-01T00:00:00Z"><samlp:SessionIndex>'
                    f"{ticket2}</samlp:SessionIndex></samlp:LogoutRequest>"
                }
            ).encode()
            status, body = post_from("127.0.0.2", b.port, "/web/", forged)
            assert status == 403 and json.loads(body) == {"error": "source_not_allowed"}
            assert use(a.port, sid2) == 200 and use(b.port, sid2) == 200

            # The user logs out at the CAS server: it posts to replica B, which never
            # saw either login; the ticket → session map is in the shared store.
            assert cas.logout() == 200
            assert [use(p, s) for p in (a.port, b.port) for s in (sid1, sid2)] == [401] * 4
        finally:
            cas.proc.stop()
        outputs = a.proc.text + b.proc.text + cas.proc.text

    records_b = audit(tmp_path / "b")
    refused = [r for r in records_b if r["event"] == "invalid_request"]
    assert [(r["route"], r["status"], r["client"]) for r in refused] == [
        ("cas_slo", 403, "127.0.0.2")
    ]
    logouts = [r for r in records_b if r["event"] == "logout"]
    assert len(logouts) == 2
    for record in logouts:
        assert (record["route"], record["reason"], record["outcome"], record["status"]) == (
            "cas_slo",
            "backchannel",
            "success",
            200,
        )
        assert record["client"] == "127.0.0.1"
    assert not [r for r in audit(tmp_path / "a") if r["route"] == "cas_slo"]
    # nothing of it reached the upstream: every SLO POST was answered by the gateway
    assert not [r for r in upstream.requests() if r["method"] == "POST" and r["path"] == "/web/"]
    for folder in (tmp_path / "a", tmp_path / "b"):
        verify = subprocess.run(
            [BIN / "gateway", "audit", "verify", str(folder / "state" / "audit.jsonl")],
            capture_output=True,
            text=True,
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
    for secret in (sid1, sid2, ticket1, ticket2, cas.password):
        assert secret not in outputs
        assert secret not in (tmp_path / "b" / "state" / "audit.jsonl").read_text()
