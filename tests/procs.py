"""Real processes for end-to-end tests: the demo upstream, `gateway run`,
stock `mitmdump`. Each is started on port 0 and announces its address."""

from __future__ import annotations

import http.client
import json
import re
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from children import Child
from secrets_registry import OUTPUTS, remember

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent


class Proc(Child):
    """A child process whose output is collected (for the secret scans)."""

    def __init__(self, argv: list[str], ready: str, cwd: Path, env: dict[str, str] | None = None):
        super().__init__(argv, ready, cwd=cwd, env=env)
        OUTPUTS.append(self)


class Upstream:
    def __init__(self, tmp: Path, *, tls: tuple[Path, Path] | None = None, host: str = "127.0.0.1"):
        self.log = tmp / "upstream-requests.jsonl"
        argv = [PYTHON, str(ROOT / "scripts" / "demo_upstream.py")]
        argv += ["--host", host, "--port", "0", "--log", str(self.log)]
        if tls is not None:
            argv += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
        self.proc = Proc(argv, r"listening on (https?)://\S+:(\d+)", cwd=tmp)
        match = self.proc.wait_ready()
        self.port = int(match.group(2))
        self.url = f"{match.group(1)}://{host}:{self.port}"

    def requests(self) -> list[dict[str, Any]]:
        if self.url.startswith("https"):  # the file log holds the same entries
            return [json.loads(x) for x in self.log.read_text().splitlines() if x.strip()]
        status, _, body = request(self.port, "GET", "/__demo/requests")
        assert status == 200
        data = json.loads(body)
        return data if isinstance(data, list) else data["requests"]

    def reset(self) -> None:
        request(self.port, "POST", "/__demo/reset")


def write_config(tmp: Path, upstream_url: str, **overrides: Any) -> Path:
    config: dict[str, Any] = {
        "listen": "127.0.0.1:0",
        "upstream": upstream_url,
        "state_dir": "state",
        "store": {"backend": "sqlite", "sqlite_path": "state/gateway.db"},
        "audit": {"path": "state/audit.jsonl"},
        "routes": {"saml_logout": None},
        "cas": {
            "server_url": f"{upstream_url}/cas",
            "service_url": "http://127.0.0.1:8080/web/",
            "allowed_service_hosts": ["app.example.com", "127.0.0.1:8080"],
        },
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class Gateway:
    def __init__(self, config: Path, netns: str | None = None):
        self.config = config
        prefix = ["ip", "netns", "exec", netns] if netns else []
        self.proc = Proc(
            [*prefix, str(BIN / "gateway"), "run", "--config", str(config)],
            r"gateway listening on https?://\S+:(\d+)",
            cwd=config.parent,
        )
        self.port = int(self.proc.wait_ready().group(1))
        # printed before the proxy's own line when admin.listen is set
        admin = re.search(r"gateway admin listening on http://\S+:(\d+)", self.proc.text)
        self.admin_port = int(admin.group(1)) if admin else None

    def stop(self, sig: int = signal.SIGTERM) -> int:
        return self.proc.stop(sig)


@contextmanager
def running_gateway(config: Path) -> Iterator[Gateway]:
    gw = Gateway(config)
    try:
        yield gw
    finally:
        gw.stop()


def request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    body: bytes | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One raw HTTP/1.1 request; the path is sent exactly as given."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        items = headers.items() if isinstance(headers, dict) else (headers or [])
        for k, v in items:
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.msg, resp.read()
    finally:
        conn.close()


def login(port: int) -> str:
    """CAS ticket login through `port`; returns the JSESSIONID it set."""
    ticket = f"ST-{time.time_ns()}-demo"
    status, headers, _ = request(port, "GET", f"/web/?ticket={ticket}")
    assert status in (200, 302), status
    for value in headers.get_all("Set-Cookie") or []:
        if value.startswith("JSESSIONID=") and not value.startswith("JSESSIONID=;"):
            sid = value.split(";", 1)[0].split("=", 1)[1]
            remember(sid, ticket)
            return sid
    raise AssertionError("no JSESSIONID set")
