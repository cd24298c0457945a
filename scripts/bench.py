#!/usr/bin/env python3
"""The gateway's performance benchmark (`scripts/bench`; docs/performance.md).

Subcommands (the wrapper runs `run`; the others are the processes it starts):

  run        the whole benchmark: proxies under load, in-process figures, targets
  lean       a lean mitmproxy master with no addon of ours (proxy (b))
  upstream   a minimal asyncio HTTP/1.1 upstream (when nginx is not installed)
  load       an asyncio keep-alive load client (when wrk is not installed)

Proxies, each its own process, measured in the same run and interleaved:
  (a) stock `mitmdump --mode reverse` with no script
  (b) a lean mitmproxy master, the addons `gateway run` uses, no gateway addon
  (c) `gateway run`, SQLite store
  (d) `gateway run`, Redis store
CPU per request is read from /proc/PID/stat (utime+stime of every thread)
around each load window; every figure is the median of the rounds, and ratios
are medians of per-round ratios (so slow drift of a noisy machine cancels out).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from children import child_env  # scripts/ is sys.path[0] when run as a script
from redis_server import redis_server_args

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The fingerprint key is configured (not created in the store) so that this
# process can compute the fingerprints the gateways will compute, and seed them.
FP_KEY = "bench-fingerprint-key-" + "0123456789abcdef" * 2
SESSION_COOKIE = "JSESSIONID"
PASS_PATH = "/web/api/v2/clusters"

# What every passthrough request carries: three cookies (one of them the
# configured session cookie) and an opaque bearer token, none of them revoked.
PASS_COOKIE = f"lang=en-US; {SESSION_COOKIE}=8E3D1F0A9C4B27D65A1E0F3C9B8D7A61; theme=dark"
PASS_BEARER = "dXNlcjpiZW5jaC1vcGFxdWUtYWNjZXNzLXRva2VuLTAwMDE"
PASS_HEADERS = (("Cookie", PASS_COOKIE), ("Authorization", f"Bearer {PASS_BEARER}"))

SAML_BLOCK = 20_000  # learned SAML tokens seeded per (algorithm, round)


# ---------------------------------------------------------------------------
# small helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all its threads, live or ended)."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    rest = data[data.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def rss_mb(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def median(values: list[float]) -> float:
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else float("nan")


def wait_port(port: int, proc: subprocess.Popen[bytes] | None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port} after {timeout:.0f}s")


def http_get(port: int, path: str, headers: tuple[tuple[str, str], ...] = ()) -> int:
    """One plain HTTP/1.1 request; the status code."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = s.recv(4096)
    return int(data.split(b" ", 2)[1])


def redis_command(port: int, *args: str, timeout: float = 5.0) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"".join(parts))
        return s.recv(1 << 20)


class Procs:
    """Every process the benchmark starts; stopped by pid at the end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], log: Path, **kw: Any) -> subprocess.Popen[bytes]:
        out = log.open("wb")
        kw.setdefault("env", child_env())
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **kw)
        out.close()
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):
                self.stop(proc)


def pin_process(pid: int, cpus: str | None) -> None:
    """Pin every thread of a running process (threads it starts later inherit it)."""
    if not cpus:
        return
    mask = {int(c) for c in cpus.split(",")}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(tid), mask)


def pin(cpus: str | None) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", cpus] if (cpus and taskset) else []


# ---------------------------------------------------------------------------
# `bench.py lean`: proxy (b), built like gateway/launcher.py minus the gateway


def cmd_lean(args: argparse.Namespace) -> int:
    from mitmproxy import options

    from gateway.launcher import lean_master, quiet_logging

    quiet_logging()

    async def serve() -> None:
        opts = options.Options()
        m = lean_master(opts)  # exactly gateway run's master, without the gateway
        opts.update(
            mode=[f"reverse:{args.upstream}@127.0.0.1:{args.port}"],
            connection_strategy="lazy",
            confdir=args.confdir,
            ssl_insecure=False,
            upstream_cert=False,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, m.shutdown)
        await m.run()

    asyncio.run(serve())
    return 0


# ---------------------------------------------------------------------------
# `bench.py upstream`: the fallback upstream

UPSTREAM_BODY = b'{"ok":true}'


async def _read_request(reader: asyncio.StreamReader) -> bool:
    head = await reader.readuntil(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if m and int(m.group(1)):
        await reader.readexactly(int(m.group(1)))
    return True


def cmd_upstream(args: argparse.Namespace) -> int:
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (len(UPSTREAM_BODY), UPSTREAM_BODY)
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await _read_request(reader):
                writer.write(answer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", args.port, backlog=512)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with server:
            await stop.wait()

    asyncio.run(main())
    return 0


# ---------------------------------------------------------------------------
# Load: wrk when installed, else `bench.py load` (asyncio). Both print one
# line "BENCH {json}" with requests, duration and latency.

WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,' ..
    '"lat_mean_us":%.1f,"lat_p50_us":%.1f,"lat_p99_us":%.1f,"lat_max_us":%.1f}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency.mean, latency:percentile(50), latency:percentile(99), latency.max))
end
"""

WRK_CAS = r"""
local prefix, n = "x", 0
init = function(args) prefix = args[1] or prefix end
request = function()
  n = n + 1
  local sid = prefix .. "-" .. n
  return wrk.format("POST", "/cas/logout", {
    ["Cookie"] = "lang=en-US; JSESSIONID=" .. sid .. "; theme=dark",
    ["Authorization"] = "Bearer tok-" .. sid}, "")
end
"""

WRK_SAML = r"""
local prefix, start, n = "x", 0, 0
init = function(args) prefix = args[1] or prefix; start = tonumber(args[2] or "0") end
request = function()
  local body = '{"token":"' .. prefix .. (start + n) .. '"}'
  n = n + 1
  return wrk.format("POST", "/_security/saml/logout",
    {["Content-Type"] = "application/json"}, body)
end
"""


@dataclass
class Load:
    """One kind of traffic: passthrough, CAS logout, or SAML logout."""

    kind: str  # "pass" | "cas" | "saml"
    prefix: str = ""
    start: int = 0


def request_bytes(load: Load, port: int, n: int) -> bytes:
    host = f"Host: 127.0.0.1:{port}\r\n"
    if load.kind == "pass":
        extra = "".join(f"{k}: {v}\r\n" for k, v in PASS_HEADERS)
        return f"GET {PASS_PATH} HTTP/1.1\r\n{host}{extra}\r\n".encode()
    if load.kind == "cas":
        sid = f"{load.prefix}-{n}"
        return (
            f"POST /cas/logout HTTP/1.1\r\n{host}"
            f"Cookie: lang=en-US; JSESSIONID={sid}; theme=dark\r\n"
            f"Authorization: Bearer tok-{sid}\r\nContent-Length: 0\r\n\r\n"
        ).encode()
    body = f'{{"token":"{load.prefix}{load.start + n}"}}'
    return (
        f"POST /_security/saml/logout HTTP/1.1\r\n{host}Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if m:
        await reader.readexactly(int(m.group(1)))
    elif re.search(rb"(?im)^transfer-encoding:\s*chunked", head):
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def asyncio_load(port: int, load: Load, duration: float, conns: int) -> dict[str, Any]:
    latencies: list[float] = []
    counter = [0]
    errors = [0, 0]  # transport errors, non-2xx/3xx
    deadline = time.monotonic() + duration

    async def worker() -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            errors[0] += 1
            return
        try:
            while time.monotonic() < deadline:
                n = counter[0]
                counter[0] += 1
                t0 = time.perf_counter()
                writer.write(request_bytes(load, port, n))
                status = await read_response(reader)
                latencies.append(time.perf_counter() - t0)
                if not 200 <= status < 400:
                    errors[1] += 1
        except (OSError, asyncio.IncompleteReadError):
            errors[0] += 1
        finally:
            writer.close()

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(conns)))
    elapsed = time.monotonic() - t0
    lat = sorted(latencies) or [0.0]
    return {
        "requests": len(latencies),
        "duration_us": int(elapsed * 1e6),
        "errors": errors[0],
        "non2xx": errors[1],
        "lat_mean_us": statistics.fmean(lat) * 1e6,
        "lat_p50_us": lat[len(lat) // 2] * 1e6,
        "lat_p99_us": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e6,
        "lat_max_us": lat[-1] * 1e6,
    }


def cmd_memrss(args: argparse.Namespace) -> int:
    """RSS growth of a MemoryStore holding `n` revocations (a fresh process)."""
    from gateway.store.base import Revocation
    from gateway.store.memory import MemoryStore

    async def fill() -> float:
        store = MemoryStore()
        now = time.time()
        before = rss_mb()
        for base in range(0, args.n, 10_000):
            await store.revoke(
                [
                    Revocation(secrets.token_hex(16), "session", now + 86400)
                    for _ in range(min(10_000, args.n - base))
                ]
            )
        return rss_mb() - before

    print(f"{asyncio.run(fill()):.1f}")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    load = Load(args.kind, args.prefix, args.start)
    result = asyncio.run(asyncio_load(args.port, load, args.duration, args.conns))
    print("BENCH " + json.dumps(result), flush=True)
    return 0


@dataclass
class Loader:
    tmp: Path
    cpus: str | None
    wrk: str | None

    def __post_init__(self) -> None:
        self.scripts = {}
        for name, body in (("pass", ""), ("cas", WRK_CAS), ("saml", WRK_SAML)):
            path = self.tmp / f"wrk-{name}.lua"
            path.write_text(body + WRK_DONE)
            self.scripts[name] = path

    @property
    def tool(self) -> str:
        return "wrk" if self.wrk else "asyncio client (bench.py load)"

    def argv(self, port: int, load: Load, duration: float, conns: int) -> list[str]:
        if self.wrk:
            argv = [*pin(self.cpus), self.wrk, "-t1", f"-c{conns}", f"-d{duration}s"]
            if load.kind == "pass":
                for k, v in PASS_HEADERS:
                    argv += ["-H", f"{k}: {v}"]
            argv += ["-s", str(self.scripts[load.kind]), f"http://127.0.0.1:{port}{PASS_PATH}"]
            if load.kind != "pass":
                argv += ["--", load.prefix, str(load.start)]
            return argv
        return [
            *pin(self.cpus),
            sys.executable,
            str(Path(__file__).resolve()),
            "load",
            "--port",
            str(port),
            "--kind",
            load.kind,
            "--prefix",
            load.prefix,
            "--start",
            str(load.start),
            "--duration",
            str(duration),
            "--conns",
            str(conns),
        ]

    def run(self, port: int, load: Load, duration: float, conns: int) -> dict[str, Any]:
        # wrk's -d takes whole seconds
        if self.wrk:
            duration = max(1, round(duration))
        out = subprocess.run(
            self.argv(port, load, duration, conns),
            capture_output=True,
            text=True,
            timeout=duration + 60,
        )
        for line in out.stdout.splitlines():
            if line.startswith("BENCH "):
                return dict(json.loads(line[6:]))
        raise RuntimeError(f"load generator failed: {out.stdout[-500:]} {out.stderr[-500:]}")


# ---------------------------------------------------------------------------
# Upstream, Redis and the proxies


def start_upstream(
    procs: Procs, tmp: Path, cpus: str | None, use_nginx: bool = True
) -> tuple[int, str]:
    port = free_port()
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if nginx and use_nginx:
        ndir = tmp / "nginx"
        ndir.mkdir()
        conf = ndir / "nginx.conf"
        conf.write_text(
            f"""
worker_processes 1;
daemon off;
master_process off;
pid {ndir}/nginx.pid;
error_log {ndir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {ndir}/body;
  proxy_temp_path {ndir}/proxy;
  fastcgi_temp_path {ndir}/fastcgi;
  uwsgi_temp_path {ndir}/uwsgi;
  scgi_temp_path {ndir}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {{
    listen 127.0.0.1:{port};
    location / {{ default_type application/json; return 200 '{UPSTREAM_BODY.decode()}'; }}
  }}
}}
"""
        )
        proc = procs.start(
            [*pin(cpus), nginx, "-p", str(ndir), "-c", str(conf), "-e", str(ndir / "error.log")],
            tmp / "nginx.log",
        )
        try:
            wait_port(port, proc, 10)
            return (
                port,
                f"nginx ({subprocess.run([nginx, '-v'], capture_output=True, text=True).stderr.strip()})",
            )
        except RuntimeError:
            procs.stop(proc)
            port = free_port()
    proc = procs.start(
        [
            *pin(cpus),
            sys.executable,
            str(Path(__file__).resolve()),
            "upstream",
            "--port",
            str(port),
        ],
        tmp / "upstream.log",
    )
    wait_port(port, proc, 10)
    return port, "asyncio upstream (bench.py upstream)"


@dataclass
class RedisProc:
    port: int
    proc: subprocess.Popen[bytes]
    version: str


def start_redis(procs: Procs, tmp: Path, cpus: str | None) -> RedisProc | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    port = free_port()
    rdir = tmp / "redis"
    rdir.mkdir()
    # The tests' arguments (scripts/redis_server.py), plus DEBUG for the stall.
    proc = procs.start(
        [*pin(cpus), binary, *redis_server_args(port, rdir, debug_command=True)],
        tmp / "redis.log",
    )
    try:
        wait_port(port, proc, 10)
    except RuntimeError:
        # an older redis-server without --enable-debug-command
        procs.stop(proc)
        proc = procs.start([*pin(cpus), binary, *redis_server_args(port, rdir)], tmp / "redis.log")
        wait_port(port, proc, 10)
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.split()
    v = next((w[2:] for w in version if w.startswith("v=")), "?")
    return RedisProc(port, proc, f"redis-server {v}")


@dataclass
class Proxy:
    key: str  # a, b, c, d, e
    label: str
    argv: list[str]
    port: int
    proc: subprocess.Popen[bytes] | None = None
    rounds: list[dict[str, Any]] = field(default_factory=list)


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


def saml_token(prefix: str, i: int) -> str:
    return f"{prefix}{i}"


def token_records(
    fingerprint: Any, prefix: str, start: int, count: int, now: float
) -> Iterator[Any]:
    from gateway.credentials import TOKEN
    from gateway.store.base import TokenRecord

    for i in range(start, start + count):
        yield TokenRecord(
            access_fp=fingerprint(TOKEN, saml_token(prefix, i)),
            refresh_fp=None,
            session_id=f"{prefix}s{i}",
            expires_at=now + 86400,
            username=f"user{i}",
            realm="saml1",
            name_id=f"user{i}@example.com",
            name_id_format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            session_index=f"_idx{i}",
        )


async def open_sqlite(path: Path) -> tuple[Any, Any]:
    """A SQLiteStore created with the bench's fingerprint key, and its Fingerprinter."""
    from gateway.credentials import Fingerprinter
    from gateway.store.sqlite import SQLiteStore

    store = SQLiteStore(path)
    await store.open()
    key = await store.fingerprint_key(FP_KEY)
    return store, Fingerprinter(key)


def bulk_revocations(db: Path, count: int, now: float) -> float:
    """`count` random revocations straight into the table, one transaction; seconds."""
    t0 = time.perf_counter()
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    chunk = 100_000
    kinds = ("session", "token")
    raw = os.urandom(16 * count)
    # In key order: the B-tree is appended to instead of split all over (3x faster).
    fps = sorted(raw[16 * i : 16 * i + 16] for i in range(count))
    del raw
    for base in range(0, count, chunk):
        con.executemany(
            "INSERT OR IGNORE INTO revocations(fp, kind, expires_at) VALUES (?, ?, ?)",
            ((fps[i], kinds[i & 1], now + 86400) for i in range(base, min(count, base + chunk))),
        )
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return time.perf_counter() - t0


def bulk_tokens(db: Path, records: Iterator[Any]) -> None:
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    rows = []
    for rec in records:
        text = rec.to_json()
        rows.append((bytes.fromhex(rec.access_fp), text, rec.expires_at))
    con.executemany("INSERT OR REPLACE INTO tokens(fp, record, expires_at) VALUES (?, ?, ?)", rows)
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


async def seed_sqlite(db: Path, revocations: int, saml: list[tuple[str, int]]) -> None:
    store, fingerprint = await open_sqlite(db)
    await store.close()
    now = time.time()
    bulk_revocations(db, revocations, now)
    for prefix, count in saml:
        bulk_tokens(db, token_records(fingerprint, prefix, 0, count, now))


async def seed_redis(url: str, revocations: int) -> None:
    from gateway.store.base import Revocation
    from gateway.store.redis import RedisStore

    store = RedisStore(url)
    await store.open()
    await store.fingerprint_key(FP_KEY)
    now = time.time()
    for base in range(0, revocations, 1000):
        n = min(1000, revocations - base)
        await store.revoke(
            [Revocation(secrets.token_hex(16), "session", now + 86400) for _ in range(n)]
        )
    await store.close()


# ---------------------------------------------------------------------------
# Redis stall: requests without credentials must not wait for Redis


async def redis_stall(gw_port: int, redis_port: int, stall_s: float = 0.3) -> dict[str, Any]:
    async def conn() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", gw_port)

    def req(with_creds: bool) -> bytes:
        extra = "".join(f"{k}: {v}\r\n" for k, v in PASS_HEADERS) if with_creds else ""
        return f"GET {PASS_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()

    r_cred, w_cred = await conn()
    r_free, w_free = await conn()
    for r, w, c in ((r_cred, w_cred, True), (r_free, w_free, False)):
        w.write(req(c))
        assert await read_response(r) == 200

    # Block Redis entirely for stall_s (DEBUG SLEEP; a busy Lua script if DEBUG is off).
    rr, rw = await asyncio.open_connection("127.0.0.1", redis_port)
    ms = int(stall_s * 1000)
    rw.write(f"DEBUG SLEEP {stall_s}\r\n".encode())
    await asyncio.sleep(0.02)
    method = "DEBUG SLEEP"
    if rr.at_eof() or len(rr._buffer):  # an immediate error: DEBUG is disabled
        line = await rr.readline()
        if line.startswith(b"-"):
            lua = (
                "local t=redis.call('TIME') local s=t[1]*1000+t[2]/1000 "
                "while true do local n=redis.call('TIME') "
                f"if n[1]*1000+n[2]/1000-s>{ms} then break end end return 1"
            )
            rw.write(f'EVAL "{lua}" 0\r\n'.encode())
            method = "busy Lua script"
            await asyncio.sleep(0.02)
    t_cred = time.perf_counter()
    w_cred.write(req(True))
    cred_task = asyncio.ensure_future(read_response(r_cred))
    free_lat: list[float] = []
    free_status: set[int] = set()
    while not cred_task.done():
        t0 = time.perf_counter()
        w_free.write(req(False))
        free_status.add(await read_response(r_free))
        free_lat.append(time.perf_counter() - t0)
    cred_status = await cred_task
    cred_wait = time.perf_counter() - t_cred
    await rr.readline()
    for w in (w_cred, w_free, rw):
        w.close()
    return {
        "method": method,
        "stall_ms": ms,
        "credentialed_wait_ms": cred_wait * 1000,
        "credentialed_status": cred_status,
        "free_requests_during_stall": len(free_lat),
        "free_statuses": sorted(free_status),
        "free_max_ms": max(free_lat) * 1000 if free_lat else float("nan"),
        "free_median_ms": median(free_lat) * 1000 if free_lat else float("nan"),
    }


# ---------------------------------------------------------------------------
# In-process figures


def browser_headers(cookie: str, bearer: str) -> tuple[tuple[str, str], ...]:
    return (
        ("host", "manager.cluster.example:28443"),
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) bench"),
        ("accept", "application/json, text/plain, */*"),
        ("accept-encoding", "gzip, deflate, br"),
        ("cookie", cookie),
        ("authorization", f"Bearer {bearer}"),
    )


async def timed(call: Callable[[], Awaitable[Any]], n: int, batches: int) -> dict[str, float]:
    """Median over batches of the wall time per call (µs), and CPU per call
    (process CPU time, all threads, over all batches)."""
    for _ in range(min(200, n)):
        await call()
    per: list[float] = []
    cpu0 = time.process_time()
    for _ in range(batches):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            await call()
        per.append((time.perf_counter_ns() - t0) / n / 1000)
    cpu = (time.process_time() - cpu0) / (n * batches) * 1e6
    return {"us": median(per), "cpu_us": cpu, "min_us": min(per), "max_us": max(per)}


async def redis_rtt(url: str, n: int, batches: int) -> dict[str, float]:
    """The round trip alone: a bare asyncio socket sending RESP MGET (2 keys),
    no client library; the floor under any Redis-backed lookup on this host."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    keys = [b"lg:rev:" + b"0" * 32, b"lg:rev:" + b"1" * 32]
    cmd = b"*3\r\n$4\r\nMGET\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(k), k) for k in keys)

    async def call() -> None:
        writer.write(cmd)
        await reader.readline()  # *2
        await reader.readline()  # $-1
        await reader.readline()  # $-1

    try:
        return await timed(call, n, batches)
    finally:
        writer.close()


async def timed_paired(
    calls: dict[str, Callable[[], Awaitable[Any]]], n: int, batches: int
) -> dict[str, dict[str, Any]]:
    """Like `timed`, for several calls measured in interleaved batches (so a
    noisy neighbour hits all of them alike); keeps the per-batch figures."""
    for call in calls.values():
        for _ in range(min(200, n)):
            await call()
    per: dict[str, list[float]] = {k: [] for k in calls}
    cpu: dict[str, float] = dict.fromkeys(calls, 0.0)
    for _ in range(batches):
        for k, call in calls.items():
            c0 = time.process_time()
            t0 = time.perf_counter_ns()
            for _ in range(n):
                await call()
            per[k].append((time.perf_counter_ns() - t0) / n / 1000)
            cpu[k] += time.process_time() - c0
    return {
        k: {
            "us": median(per[k]),
            "cpu_us": cpu[k] / (n * batches) * 1e6,
            "min_us": min(per[k]),
            "max_us": max(per[k]),
            "per": per[k],
        }
        for k in calls
    }


async def timed_each(calls: list[Callable[[], Awaitable[Any]]]) -> dict[str, float]:
    """Each call timed on its own (for slow calls: logouts with fsync)."""
    per: list[float] = []
    cpu0 = time.process_time()
    for call in calls:
        t0 = time.perf_counter_ns()
        await call()
        per.append((time.perf_counter_ns() - t0) / 1000)
    cpu = (time.process_time() - cpu0) / len(calls) * 1e6
    per.sort()
    return {"us": median(per), "cpu_us": cpu, "p90_us": per[int(len(per) * 0.9)]}


async def inproc(
    tmp: Path, keys: dict[str, Path], n_big: int, quick: bool, redis_url: str | None
) -> dict[str, Any]:
    from mitmproxy import http as mhttp
    from mitmproxy.test import tflow

    from gateway.audit import AuditLog
    from gateway.audit_flood import FloodLimitedAudit
    from gateway.config import parse_config
    from gateway.credentials import Fingerprinter
    from gateway.engine import Gateway
    from gateway.http import Forward, Request, Respond
    from gateway.mitm import HANDLED, LogoutGateway
    from gateway.runtime import Runtime
    from gateway.saml.redirect_binding import Signer
    from gateway.store.base import Revocation
    from gateway.store.memory import MemoryStore

    out: dict[str, Any] = {}
    d = tmp / "inproc"
    d.mkdir()
    n, batches = (500, 5) if quick else (2000, 11)
    now = time.time()
    # Two databases, measured in interleaved batches: 10 revocations, n_big.
    db10, db = d / "gw10.db", d / "gateway.db"
    store10, fingerprint = await open_sqlite(db10)
    await store10.revoke(
        [Revocation(secrets.token_hex(16), "session", now + 86400) for _ in range(10)]
    )
    store, _ = await open_sqlite(db)
    await store.close()
    out["bulk_insert_s"] = bulk_revocations(db, n_big, now)
    out["revocations_big"] = n_big
    out["db_bytes_big"] = db.stat().st_size
    store, _ = await open_sqlite(db)

    def config(
        alg: str | None = None,
        key: str | None = None,
        fsync: bool = False,
        backend: dict[str, Any] | None = None,
    ) -> Any:
        data = gateway_config(
            d,
            "state",
            0,
            9,
            backend or {"backend": "sqlite", "sqlite_path": str(db)},
            alg,
            keys[key] if key else None,
            fsync,
        )
        return parse_config(data, d)

    audit_off = AuditLog(d / "audit-nofsync.jsonl", fsync=False)
    audit_off.open()
    audit_on = AuditLog(d / "audit-fsync.jsonl", fsync=True)
    audit_on.open()
    cfg = config("rsa-sha256", "rsa2048")
    signer = Signer.from_pem_file(keys["rsa2048"], "rsa-sha256")
    gw10 = Gateway(cfg, store10, audit_off, fingerprint, signer=signer)
    gw = Gateway(cfg, store, audit_off, fingerprint, signer=signer)

    pass_req = Request(
        "GET", PASS_PATH, "", browser_headers(PASS_COOKIE, PASS_BEARER), None, "127.0.0.1", "bench"
    )
    for g in (gw10, gw):
        decision = await g.handle_request(pass_req)
        assert isinstance(decision, Forward) and decision.route is None, decision

    # the mitmproxy-level hook, on a flow
    def mitm_hook(g: Any, s: Any) -> Callable[[], Awaitable[None]]:
        addon = LogoutGateway(Runtime(cfg, g, s, audit_off, FloodLimitedAudit(audit_off, 60)))
        flow = tflow.tflow(
            req=mhttp.Request.make(
                "GET",
                f"http://manager.cluster.example:28443{PASS_PATH}",
                headers=mhttp.Headers(
                    [(k.encode(), v.encode()) for k, v in browser_headers(PASS_COOKIE, PASS_BEARER)]
                ),
            )
        )

        async def call() -> None:
            flow.metadata.pop(HANDLED, None)
            await addon.request(flow)
            assert flow.response is None

        return call

    def distinct_reqs(tag: str, count: int) -> list[Request]:
        return [
            Request(
                "GET",
                PASS_PATH,
                "",
                browser_headers(
                    f"lang=en-US; {SESSION_COOKIE}={tag}{i:08d}ABCDEF0123456789; theme=dark",
                    f"{tag}-opaque-token-{i:08d}-abcdefghijklmnop",
                ),
                None,
                "127.0.0.1",
                "bench",
            )
            for i in range(count)
        ]

    def cycler(g: Any, reqs: list[Request]) -> Callable[[], Awaitable[Any]]:
        it = iter(range(1 << 62))

        def call() -> Awaitable[Any]:
            return g.handle_request(reqs[next(it) % len(reqs)])

        return call

    # Memory store: the pure-Python floor.
    mem = MemoryStore()
    gw_mem = Gateway(config(backend={"backend": "memory"}), mem, audit_off, fingerprint)

    paired = await timed_paired(
        {
            "hook_sqlite_10": lambda: gw10.handle_request(pass_req),
            "hook_sqlite_big": lambda: gw.handle_request(pass_req),
            "mitm_hook_sqlite_10": mitm_hook(gw10, store10),
            "mitm_hook_sqlite_big": mitm_hook(gw, store),
            "hook_sqlite_10_distinct": cycler(gw10, distinct_reqs("A", 20_000)),
            "hook_sqlite_big_distinct": cycler(gw, distinct_reqs("B", 20_000)),
            "hook_memory_0": lambda: gw_mem.handle_request(pass_req),
        },
        n,
        batches,
    )
    out.update(paired)
    out["ratio_big_10"] = median(
        [
            b / a
            for a, b in zip(
                paired["hook_sqlite_10"]["per"], paired["hook_sqlite_big"]["per"], strict=True
            )
        ]
    )
    out["ratio_big_10_mitm"] = median(
        [
            b / a
            for a, b in zip(
                paired["mitm_hook_sqlite_10"]["per"],
                paired["mitm_hook_sqlite_big"]["per"],
                strict=True,
            )
        ]
    )
    await store10.close()

    # a revoked credential among n_big: the refusal path (401, audit without fsync)
    revoked_cookie = "lang=en-US; JSESSIONID=REVOKED0123456789; theme=dark"
    await store.revoke(
        [Revocation(fingerprint("session", "REVOKED0123456789"), "session", now + 86400)]
    )
    rev_req = Request(
        "GET",
        PASS_PATH,
        "",
        browser_headers(revoked_cookie, PASS_BEARER),
        None,
        "127.0.0.1",
        "bench",
    )
    assert isinstance(await gw.handle_request(rev_req), Respond)
    out["hook_sqlite_big_revoked"] = await timed(lambda: gw.handle_request(rev_req), n // 4, 5)

    # What n_big revocations cost a memory store, in a fresh process.
    memrss = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "memrss", "--n", str(n_big)],
        capture_output=True,
        text=True,
        check=False,
    )
    with contextlib.suppress(ValueError):
        out["memory_store_big_rss_mb"] = float(memrss.stdout.strip().splitlines()[-1])

    # Redis, in-process: the round trip on an idle loop, 10k → n_big keys.
    if redis_url is not None:
        from gateway.store.redis import RedisStore

        rstore = RedisStore(redis_url)
        await rstore.open()
        rkey = Fingerprinter(await rstore.fingerprint_key(FP_KEY))
        gw_r = Gateway(
            config(backend={"backend": "redis", "redis_url": redis_url}), rstore, audit_off, rkey
        )
        out["redis_rtt_raw"] = await redis_rtt(redis_url, n // 2, batches)
        out["hook_redis_seeded"] = await timed(
            lambda: gw_r.handle_request(pass_req), n // 2, batches
        )
        from redis.asyncio import Redis

        bulk = Redis.from_url(redis_url)  # no short timeouts: the bulk load takes seconds
        info0 = await bulk.info("memory")
        keys0 = await bulk.dbsize()
        t0 = time.perf_counter()
        # server-side, in chunks: n_big random revocation keys with a TTL
        lua = (
            "local exp = tonumber(ARGV[2]) "
            "for i = 1, tonumber(ARGV[1]) do "
            "redis.call('SET', 'lg:rev:' .. ARGV[3] .. string.format('%026x', i), ARGV[2], 'PXAT', exp) end return 1"
        )
        exp_ms = int((now + 86400) * 1000)
        for c in range(0, n_big, 200_000):
            await bulk.eval(lua, 0, min(200_000, n_big - c), exp_ms, f"{c:06x}")
        out["redis_bulk_s"] = time.perf_counter() - t0
        info1 = await bulk.info("memory")
        out["redis_keys_big"] = await bulk.dbsize() - keys0
        out["redis_used_memory_mb_big"] = (info1["used_memory"] - info0["used_memory"]) / 2**20
        out["hook_redis_big"] = await timed(lambda: gw_r.handle_request(pass_req), n // 2, batches)
        await bulk.flushdb()
        await bulk.aclose()
        await rstore.close()

    # Logouts. Every call a fresh session (and bearer), so every one revokes.
    def cas_calls(tag: str, gateway: Any, count: int) -> list[Callable[[], Awaitable[Any]]]:
        def make(i: int) -> Callable[[], Awaitable[Any]]:
            r = Request(
                "POST",
                "/cas/logout",
                "",
                (
                    *browser_headers(
                        f"lang=en-US; JSESSIONID={tag}-{i}; theme=dark", f"tok-{tag}-{i}"
                    ),
                    ("content-length", "0"),
                ),
                b"",
                "127.0.0.1",
                "bench",
            )
            return lambda: gateway.handle_request(r)

        return [make(i) for i in range(count)]

    count = 60 if quick else 300
    check = await cas_calls("check", gw, 1)[0]()
    assert isinstance(check, Respond) and check.status == 200, check
    out["cas_logout_nofsync"] = await timed_each(cas_calls("nf", gw, count))
    gw_fsync = Gateway(cfg, store, audit_on, fingerprint, signer=gw.signer)
    out["cas_logout_fsync"] = await timed_each(cas_calls("fs", gw_fsync, count // 2))

    # SAML logout: learned tokens, then one logout per token; sign-only cost too.
    for key, alg in (
        ("rsa2048", "rsa-sha256"),
        ("rsa3072", "rsa-sha256"),
        ("ecp256", "ecdsa-sha256"),
    ):
        signer = Signer.from_pem_file(keys[key], alg)
        g = Gateway(config(alg, key), store, audit_off, fingerprint, signer=signer)
        prefix = f"inproc-{key}-"
        bulk_tokens(db, token_records(fingerprint, prefix, 0, count, time.time()))

        def make_saml(i: int, g: Any = g, prefix: str = prefix) -> Callable[[], Awaitable[Any]]:
            body = json.dumps({"token": saml_token(prefix, i)}).encode()
            r = Request(
                "POST",
                "/_security/saml/logout",
                "",
                (
                    ("host", "es.example:9200"),
                    ("content-type", "application/json"),
                    ("content-length", str(len(body))),
                ),
                body,
                "127.0.0.1",
                "bench",
            )
            return lambda: g.handle_request(r)

        first = await make_saml(0)()
        assert isinstance(first, Respond) and b'"redirect":"https://' in first.body, first
        out[f"saml_logout_{key}"] = await timed_each([make_saml(i) for i in range(1, count)])
        data = b"SAMLRequest=" + b"x" * 600 + b"&SigAlg=http%3A%2F%2Fwww.w3.org"
        sign_n = 50 if quick else 200
        t0 = time.process_time()
        for _ in range(sign_n):
            signer.sign(data)
        out[f"sign_{key}_cpu_us"] = (time.process_time() - t0) / sign_n * 1e6

    await store.close()
    audit_off.close()
    audit_on.close()
    return out


# ---------------------------------------------------------------------------
# `bench.py run`


def machine() -> dict[str, str]:
    model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        from importlib.metadata import version

        mitm = version("mitmproxy")
    except Exception:
        mitm = "?"
    mem = "?"
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        mem = f"{int(f.readline().split()[1]) / 2**20:.0f} GiB"
    commit = "?"
    with contextlib.suppress(Exception):
        commit = (
            subprocess.run(
                ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            or "?"
        )
    return {
        "commit": commit,
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "mitmproxy": mitm,
    }


def fmt(v: float, spec: str = ".3f") -> str:
    return "n/a" if v != v else format(v, spec)


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    quick = args.quick
    rounds = args.rounds or (2 if quick else 6)
    dur = args.duration or (1.0 if quick else 3.0)
    dur_short = max(1.0, dur * 2 / 3)
    conns = args.conns
    n_big = args.revocations or (100_000 if quick else 1_000_000)
    multi = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None and not args.no_pin
    cpu_proxy, cpu_load = ("0", "1") if multi else (None, None)

    tmp = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    procs = Procs()
    results: dict[str, Any] = {"machine": machine(), "settings": {}}
    try:
        wrk = None if args.no_wrk else shutil.which("wrk")
        loader = Loader(tmp, cpu_load, wrk)
        up_port, up_desc = start_upstream(procs, tmp, cpu_load, not args.no_nginx)
        redis = None if args.no_redis else start_redis(procs, tmp, cpu_load)
        keys = make_keys(tmp)
        results["settings"] = {
            "upstream": up_desc,
            "load": loader.tool,
            "redis": redis.version if redis else "no redis-server: (d) skipped",
            "rounds": rounds,
            "seconds_per_window": dur,
            "connections": conns,
            "pinning": f"proxies on CPU {cpu_proxy}, load+upstream+redis on CPU {cpu_load}"
            if multi
            else "none",
            "seeded_revocations": args.seed,
        }
        print(
            f"== bench: {rounds} rounds x {dur:.0f}s, {conns} keep-alive connections; "
            f"upstream {up_desc}; load {loader.tool}; {results['settings']['redis']}",
            flush=True,
        )

        # --- stores and configs
        px: dict[str, Proxy] = {}
        mitm_dir = tmp / "mitm"
        mitm_dir.mkdir()
        up_url = f"http://127.0.0.1:{up_port}"
        pa = free_port()
        px["a"] = Proxy(
            "a",
            "stock mitmdump",
            [
                str(BIN / "mitmdump"),
                "--mode",
                f"reverse:{up_url}@127.0.0.1:{pa}",
                "--set",
                "flow_detail=0",
                "--set",
                "connection_strategy=lazy",
                "--set",
                f"confdir={mitm_dir / 'a'}",
            ],
            pa,
        )
        pb = free_port()
        px["b"] = Proxy(
            "b",
            "lean master, no addon",
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "lean",
                "--upstream",
                up_url,
                "--port",
                str(pb),
                "--confdir",
                str(mitm_dir / "b"),
            ],
            pb,
        )

        def sqlite_gateway(key: str, label: str, sig_alg: str, keypair: Any, prefix: str) -> None:
            """A `gateway run` on SQLite whose SAML route signs with `keypair`."""
            port = free_port()
            db = tmp / key / "gateway.db"
            (tmp / key).mkdir()
            store = {"backend": "sqlite", "sqlite_path": str(db)}
            cfg = write_config(
                tmp, key, gateway_config(tmp, key, port, up_port, store, sig_alg, keypair)
            )
            asyncio.run(seed_sqlite(db, args.seed, [(prefix, SAML_BLOCK * rounds)]))
            argv = [str(BIN / "gateway"), "run", "--config", str(cfg)]
            px[key] = Proxy(key, label, argv, port)

        sqlite_gateway("c", "gateway run, SQLite", "rsa-sha256", keys["rsa2048"], "saml-rsa-")
        if redis is not None:
            pd = free_port()
            redis_url = f"redis://127.0.0.1:{redis.port}/0"
            d_cfg = write_config(
                tmp,
                "d",
                gateway_config(
                    tmp, "d", pd, up_port, {"backend": "redis", "redis_url": redis_url}, None, None
                ),
            )
            asyncio.run(seed_redis(redis_url, args.seed))
            px["d"] = Proxy(
                "d",
                "gateway run, Redis",
                [str(BIN / "gateway"), "run", "--config", str(d_cfg)],
                pd,
            )
        sqlite_gateway(
            "e", "gateway run, SQLite, ECDSA key", "ecdsa-sha256", keys["ecp256"], "saml-ec-"
        )

        for p in px.values():
            p.proc = procs.start(p.argv, tmp / f"proxy-{p.key}.log")
        for p in px.values():
            assert p.proc is not None
            wait_port(p.port, p.proc)
            status = http_get(p.port, PASS_PATH, PASS_HEADERS)
            if status != 200:
                raise RuntimeError(f"({p.key}) answered {status} to a passthrough request")
            # started unpinned (start-up is import-heavy), pinned before any load
            pin_process(p.proc.pid, cpu_proxy)
        main = [k for k in "abcd" if k in px]
        # warm-up (not measured): imports, JIT-less caches, connection pools
        for k in main:
            loader.run(px[k].port, Load("pass"), 1, conns)
        print(f"== proxies up and warm ({time.monotonic() - started:.0f}s)", flush=True)

        # --- rounds: a, b, c, d interleaved (ABBA order), then c=1 latency
        # for c/d, then logouts through the gateway.
        lat1: dict[str, list[dict[str, Any]]] = {k: [] for k in ("c", "d") if k in px}
        logouts: dict[str, list[dict[str, Any]]] = {
            "cas": [],
            "saml_rsa2048": [],
            "saml_ecp256": [],
        }

        def window(key: str, load: Load, duration: float, c: int) -> dict[str, Any]:
            p = px[key]
            assert p.proc is not None
            cpu0 = cpu_seconds(p.proc.pid)
            res = loader.run(p.port, load, duration, c)
            res["cpu_s"] = cpu_seconds(p.proc.pid) - cpu0
            reqs = max(1, res["requests"])
            res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
            res["cpu_ms_per_req"] = res["cpu_s"] * 1000 / reqs
            if res["errors"] or res["non2xx"]:
                print(
                    f"   ({key}) {load.kind}: {res['errors']} errors, {res['non2xx']} non-2xx",
                    flush=True,
                )
            return res

        for r in range(rounds):
            # ABBA: a b c d, then d c b a: a slow drift of the machine hits every
            # proxy alike over two rounds, and (b), (c) are always neighbours.
            order = main if r % 2 == 0 else main[::-1]
            line = []
            for k in order:
                res = window(k, Load("pass"), dur, conns)
                px[k].rounds.append(res)
                line.append(f"{k} {res['rps']:.0f}/s {res['cpu_ms_per_req']:.3f}ms")
            for k in lat1:
                lat1[k].append(window(k, Load("pass"), dur_short, 1))
            logouts["cas"].append(
                window("c", Load("cas", f"r{r}-{secrets.token_hex(3)}"), dur_short, conns)
            )
            logouts["saml_rsa2048"].append(
                window("c", Load("saml", "saml-rsa-", SAML_BLOCK * r), dur_short, conns)
            )
            logouts["saml_ecp256"].append(
                window("e", Load("saml", "saml-ec-", SAML_BLOCK * r), dur_short, conns)
            )
            for name in ("saml_rsa2048", "saml_ecp256"):
                if logouts[name][-1]["requests"] > SAML_BLOCK:
                    print(f"   warning: {name} ran out of learned tokens", flush=True)
            print(
                f"   round {r + 1}/{rounds}: "
                + ", ".join(line)
                + f" | logout cas {logouts['cas'][-1]['cpu_ms_per_req']:.3f}ms"
                + f" saml-rsa {logouts['saml_rsa2048'][-1]['cpu_ms_per_req']:.3f}ms"
                + f" saml-ec {logouts['saml_ecp256'][-1]['cpu_ms_per_req']:.3f}ms"
                + f" ({time.monotonic() - started:.0f}s)",
                flush=True,
            )

        # --- Redis stall (d running, Redis blocked): credential-free requests go on
        stall = None
        if redis is not None and "d" in px:
            stall = asyncio.run(redis_stall(px["d"].port, redis.port))
        rss = {k: rss_mb(p.proc.pid) for k, p in px.items() if p.proc is not None}
        for p in px.values():
            if p.proc is not None:
                procs.stop(p.proc)

        # --- summary of the proxies
        table = {}
        for k in main:
            rs = px[k].rounds
            row = {
                "label": px[k].label,
                "rps": median([x["rps"] for x in rs]),
                "cpu_ms_per_req": median([x["cpu_ms_per_req"] for x in rs]),
                "cpu_ms_min": min(x["cpu_ms_per_req"] for x in rs),
                "cpu_ms_max": max(x["cpu_ms_per_req"] for x in rs),
                "lat_p50_ms_c8": median([x["lat_p50_us"] for x in rs]) / 1000,
                "rss_mb": rss.get(k, float("nan")),
                "x_a": median(
                    [
                        x["cpu_ms_per_req"] / a["cpu_ms_per_req"]
                        for x, a in zip(rs, px["a"].rounds, strict=True)
                    ]
                ),
                "x_b": median(
                    [
                        x["cpu_ms_per_req"] / b["cpu_ms_per_req"]
                        for x, b in zip(rs, px["b"].rounds, strict=True)
                    ]
                ),
                "rounds": rs,
            }
            table[k] = row
        results["proxies"] = table
        results["latency_c1"] = {
            k: {
                "p50_ms": median([x["lat_p50_us"] for x in v]) / 1000,
                "mean_ms": median([x["lat_mean_us"] for x in v]) / 1000,
                "cpu_ms_per_req": median([x["cpu_ms_per_req"] for x in v]),
                "rounds": v,
            }
            for k, v in lat1.items()
        }
        results["logouts"] = {
            name: {
                "rps": median([x["rps"] for x in v]),
                "cpu_ms_per_req": median([x["cpu_ms_per_req"] for x in v]),
                "x_passthrough": median(
                    [
                        x["cpu_ms_per_req"] / c["cpu_ms_per_req"]
                        for x, c in zip(v, px["c"].rounds, strict=True)
                    ]
                ),
                "lat_p50_ms": median([x["lat_p50_us"] for x in v]) / 1000,
                "rounds": v,
            }
            for name, v in logouts.items()
        }
        results["redis_stall"] = stall
        print(
            f"== load done ({time.monotonic() - started:.0f}s); in-process figures ...", flush=True
        )

        # --- in-process
        if multi:  # the proxies are stopped: CPU 0 is free for the in-process figures
            os.sched_setaffinity(0, {int(cpu_proxy or 0)})
        results["inproc"] = asyncio.run(
            inproc(tmp, keys, n_big, quick, f"redis://127.0.0.1:{redis.port}/1" if redis else None)
        )
        if multi:
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))

        # --- a gateway process on the n_big database: RSS and start-up time
        big_db = tmp / "inproc" / "gateway.db"
        pf = free_port()
        f_cfg = write_config(
            tmp,
            "f",
            gateway_config(
                tmp, "f", pf, up_port, {"backend": "sqlite", "sqlite_path": str(big_db)}, None, None
            ),
        )
        t0 = time.monotonic()
        fproc = procs.start(
            [str(BIN / "gateway"), "run", "--config", str(f_cfg)],
            tmp / "proxy-f.log",
        )
        wait_port(pf, fproc, 120)
        startup = time.monotonic() - t0
        loader.run(pf, Load("pass"), 1, conns)
        results["big_db_process"] = {
            "revocations": n_big,
            "startup_s": startup,
            "rss_mb": rss_mb(fproc.pid),
            "db_bytes": results["inproc"]["db_bytes_big"],
        }
        procs.stop(fproc)
        results["elapsed_s"] = time.monotonic() - started
    finally:
        procs.stop_all()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"(kept {tmp})")

    results["targets"] = targets(results)
    print()
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
        print(f"\n(figures written to {args.json})")
    return 0


def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    t: list[dict[str, Any]] = []
    px = res["proxies"]
    ip = res["inproc"]

    def add(name: str, value: float, limit: float, unit: str, ok: bool | None = None) -> None:
        passed = (value <= limit) if ok is None else ok
        t.append({"target": name, "value": value, "limit": limit, "unit": unit, "pass": passed})

    c = px["c"]
    add("(c) CPU/request <= 0.7x stock mitmdump (a)", c["x_a"], 0.7, "x")
    add("(c) CPU/request <= 1.1x lean master (b)", c["x_b"], 1.1, "x")
    big = ip["revocations_big"]
    # The request hook as mitmproxy calls it (LogoutGateway.request on a flow:
    # adapter + decision); Gateway.handle_request alone is printed above it.
    add(
        "request hook (LogoutGateway.request), passthrough, SQLite, 10 revocations <= 30 us",
        ip["mitm_hook_sqlite_10"]["us"],
        30,
        "us",
    )
    add(
        f"request hook (LogoutGateway.request), passthrough, SQLite, {big:,} revocations <= 30 us",
        ip["mitm_hook_sqlite_big"]["us"],
        30,
        "us",
    )
    add(
        f"request hook, {big:,} / 10 revocations <= 1.1x (paired batches)",
        max(ip["ratio_big_10"], ip["ratio_big_10_mitm"]),
        1.1,
        "x",
    )
    if "d" in px:
        dl, cl = res["latency_c1"]["d"], res["latency_c1"]["c"]
        add(
            "Redis adds <= 0.2 ms/request (latency, 1 connection, (d) - (c))",
            dl["p50_ms"] - cl["p50_ms"],
            0.2,
            "ms",
        )
        add(
            "Redis adds <= 0.2 ms/request (proxy CPU, (d) - (c))",
            px["d"]["cpu_ms_per_req"] - c["cpu_ms_per_req"],
            0.2,
            "ms",
        )
        s = res["redis_stall"]
        if s is not None:
            ok = (
                s["free_requests_during_stall"] >= 5
                and s["free_statuses"] == [200]
                and s["free_max_ms"] < 50
                and s["credentialed_status"] == 200
                and s["credentialed_wait_ms"] >= s["stall_ms"] * 0.5
            )
            add(
                "Redis never blocks other requests (max latency of credential-free requests during a Redis stall)",
                s["free_max_ms"],
                50,
                "ms",
                ok,
            )
    for name, label in (
        ("cas", "CAS logout (fsync on)"),
        ("saml_rsa2048", "SAML logout, RSA-2048"),
        ("saml_ecp256", "SAML logout, ECDSA P-256"),
    ):
        add(
            f"{label} CPU <= 2x a passthrough request",
            res["logouts"][name]["x_passthrough"],
            2.0,
            "x",
        )
    return t


def report(res: dict[str, Any]) -> str:
    out: list[str] = []
    m, s = res["machine"], res["settings"]
    out.append(
        f"machine: {m['nproc']} x {m['cpu']}, {m['memory']}, Linux {m['kernel']}, "
        f"Python {m['python']}, mitmproxy {m['mitmproxy']}; gateway {m['commit']}"
    )
    out.append(
        f"load: {s['load']}, {s['connections']} keep-alive connections, {s['rounds']} rounds x "
        f"{s['seconds_per_window']:.0f}s per proxy, interleaved; upstream: {s['upstream']}; {s['redis']}"
    )
    out.append(
        f"pinning: {s['pinning']}; stores seeded with {s['seeded_revocations']:,} revocations; "
        "requests: 3 cookies (JSESSIONID among them) + opaque bearer, not revoked"
    )
    out.append("")
    out.append(
        "proxy                          req/s   CPU ms/req (min-max)   x(a)   x(b)   p50 ms  RSS MB"
    )
    for k, row in res["proxies"].items():
        out.append(
            f"({k}) {row['label']:<26} {row['rps']:>6.0f}   {row['cpu_ms_per_req']:.3f} "
            f"({row['cpu_ms_min']:.3f}-{row['cpu_ms_max']:.3f})   {row['x_a']:.2f}   {row['x_b']:.2f}"
            f"   {row['lat_p50_ms_c8']:>5.2f}  {row['rss_mb']:>6.0f}"
        )
    out.append(
        "  (medians of the rounds; x(a), x(b): medians of the per-round ratios of CPU ms/req)"
    )
    if res["latency_c1"]:
        out.append("")
        out.append(
            "one connection (latency):  "
            + ";  ".join(
                f"({k}) p50 {v['p50_ms']:.3f} ms, mean {v['mean_ms']:.3f} ms, CPU {v['cpu_ms_per_req']:.3f} ms/req"
                for k, v in res["latency_c1"].items()
            )
        )
    out.append("")
    out.append(
        "logouts through `gateway run` (SQLite, audit fsync on; every request a fresh session/token):"
    )
    for name, label in (
        ("cas", "POST /cas/logout (cookies + bearer)"),
        ("saml_rsa2048", "POST /_security/saml/logout, RSA-2048"),
        ("saml_ecp256", "POST /_security/saml/logout, ECDSA P-256"),
    ):
        v = res["logouts"][name]
        out.append(
            f"  {label:<42} {v['rps']:>6.0f} req/s  CPU {v['cpu_ms_per_req']:.3f} ms/req "
            f"= {v['x_passthrough']:.2f}x passthrough (c)   p50 {v['lat_p50_ms']:.2f} ms"
        )
    st = res.get("redis_stall")
    if st:
        out.append("")
        out.append(
            f"Redis stalled {st['stall_ms']} ms ({st['method']}) under (d): a credentialed request waited "
            f"{st['credentialed_wait_ms']:.0f} ms (then {st['credentialed_status']}); meanwhile "
            f"{st['free_requests_during_stall']} credential-free requests completed "
            f"(statuses {st['free_statuses']}), median {st['free_median_ms']:.2f} ms, max {st['free_max_ms']:.2f} ms"
        )
    ip = res["inproc"]
    big = ip["revocations_big"]
    out.append("")
    out.append("in-process, per call (median of batches; CPU = process CPU time incl. threads):")

    def line(label: str, key: str) -> None:
        if key in ip:
            v = ip[key]
            out.append(f"  {label:<60} {v['us']:>8.1f} us   CPU {v['cpu_us']:>8.1f} us")

    line("Gateway.handle_request, passthrough, SQLite, 10 revocations", "hook_sqlite_10")
    line(f"Gateway.handle_request, passthrough, SQLite, {big:,} revocations", "hook_sqlite_big")
    line("  same, a different client each call, 10 revocations", "hook_sqlite_10_distinct")
    line(f"  same, a different client each call, {big:,} revocations", "hook_sqlite_big_distinct")
    line(f"  a revoked cookie among {big:,} (401 + audit, no fsync)", "hook_sqlite_big_revoked")
    line("LogoutGateway.request (mitmproxy hook), SQLite, 10", "mitm_hook_sqlite_10")
    line(f"LogoutGateway.request (mitmproxy hook), SQLite, {big:,}", "mitm_hook_sqlite_big")
    line("Gateway.handle_request, passthrough, memory store, empty", "hook_memory_0")
    line("Redis round trip alone (bare asyncio socket, MGET of 2 keys)", "redis_rtt_raw")
    line("Gateway.handle_request, passthrough, Redis, seeded (round trip)", "hook_redis_seeded")
    line(f"Gateway.handle_request, passthrough, Redis, {big:,} keys", "hook_redis_big")
    out.append("  logouts (median per call; fresh credentials every call):")
    for label, key in (
        ("POST /cas/logout, audit fsync off (SQLite commit still FULL)", "cas_logout_nofsync"),
        ("POST /cas/logout, audit fsync on", "cas_logout_fsync"),
        ("POST /_security/saml/logout, RSA-2048 (fsync off)", "saml_logout_rsa2048"),
        ("POST /_security/saml/logout, RSA-3072 (fsync off)", "saml_logout_rsa3072"),
        ("POST /_security/saml/logout, ECDSA P-256 (fsync off)", "saml_logout_ecp256"),
    ):
        line("  " + label, key)
    out.append(
        "  signature alone (CPU): "
        + ", ".join(
            f"{k} {ip[f'sign_{k}_cpu_us']:.0f} us" for k in ("rsa2048", "rsa3072", "ecp256")
        )
    )
    bp = res["big_db_process"]
    out.append("")
    out.append(
        f"{big:,} revocations: SQLite file {ip['db_bytes_big'] / 2**20:.1f} MiB "
        f"(bulk insert {ip['bulk_insert_s']:.1f} s); `gateway run` on it: RSS {bp['rss_mb']:.0f} MB, "
        f"start-up {bp['startup_s']:.1f} s (PRAGMA quick_check); memory store: +{ip.get('memory_store_big_rss_mb', float('nan')):.0f} MB RSS"
        + (
            f"; Redis: +{ip['redis_used_memory_mb_big']:.0f} MiB used_memory for {ip['redis_keys_big']:,} keys"
            if "redis_used_memory_mb_big" in ip
            else ""
        )
    )
    out.append("")
    out.append("targets:")
    for t in res["targets"]:
        unit = t["unit"]
        val = (
            f"{t['value']:.3f}{unit}"
            if unit == "x"
            else f"{t['value']:.3f} {unit}"
            if unit == "ms"
            else f"{t['value']:.1f} {unit}"
        )
        out.append(f"  [{'PASS' if t['pass'] else 'MISS'}] {t['target']}: {val}")
    out.append(f"\n(total {res.get('elapsed_s', 0):.0f}s)")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="bench.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd")
    r = sub.add_parser("run", help="the benchmark")
    r.add_argument(
        "--quick", action="store_true", help="smoke run: 2 short rounds, 100k revocations"
    )
    r.add_argument("--json", metavar="FILE", help="write every figure as JSON")
    r.add_argument("--rounds", type=int, default=0)
    r.add_argument("--duration", type=float, default=0.0, help="seconds per load window")
    r.add_argument("--conns", type=int, default=8)
    r.add_argument(
        "--seed", type=int, default=10_000, help="revocations seeded in the proxies' stores"
    )
    r.add_argument(
        "--revocations", type=int, default=0, help="the large store size (default 1,000,000)"
    )
    r.add_argument(
        "--no-pin", action="store_true", help="do not pin proxies and load to separate CPUs"
    )
    r.add_argument("--keep", action="store_true", help="keep the temporary directory")
    r.add_argument("--no-wrk", action="store_true", help="use the asyncio load client")
    r.add_argument("--no-nginx", action="store_true", help="use the asyncio upstream")
    r.add_argument("--no-redis", action="store_true", help="skip (d) and the Redis figures")
    r.add_argument("--install", action="store_true", help="(handled by scripts/bench)")
    lean = sub.add_parser("lean")
    lean.add_argument("--upstream", required=True)
    lean.add_argument("--port", type=int, required=True)
    lean.add_argument("--confdir", required=True)
    mr = sub.add_parser("memrss")
    mr.add_argument("--n", type=int, required=True)
    up = sub.add_parser("upstream")
    up.add_argument("--port", type=int, required=True)
    ld = sub.add_parser("load")
    ld.add_argument("--port", type=int, required=True)
    ld.add_argument("--kind", choices=("pass", "cas", "saml"), default="pass")
    ld.add_argument("--prefix", default="")
    ld.add_argument("--start", type=int, default=0)
    ld.add_argument("--duration", type=float, default=3.0)
    ld.add_argument("--conns", type=int, default=8)
    args = ap.parse_args(argv)
    if args.cmd in (None, "run"):
        if args.cmd is None:
            args = ap.parse_args(["run", *(argv or sys.argv[1:])])
        return run(args)
    return {"lean": cmd_lean, "upstream": cmd_upstream, "load": cmd_load, "memrss": cmd_memrss}[
        args.cmd
    ](args)


if __name__ == "__main__":
    sys.exit(main())
