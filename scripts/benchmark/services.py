"""What the proxies talk to: the upstream (nginx, else `bench.py upstream`) and
redis-server (skipped when it is not installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from redis_server import redis_server_args  # shared with the tests (scripts/)

from .processes import Procs, bench_subcommand, free_port, wait_port
from .procfs import pin
from .workload import UPSTREAM_BODY


def nginx_binary() -> str | None:
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )


def start_nginx(
    procs: Procs,
    nginx: str,
    ndir: Path,
    port: int,
    cpus: str | None,
    log: Path,
    *,
    http: str,
    server: str,
) -> subprocess.Popen[bytes] | None:
    """nginx in the foreground, files under `ndir`, listening on `port` with
    `http` directives and a `server` block body; None if it did not come up."""
    ndir.mkdir(parents=True, exist_ok=True)
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
  {http}
  server {{
    listen 127.0.0.1:{port};
    {server}
  }}
}}
"""
    )
    proc = procs.start(
        [*pin(cpus), nginx, "-p", str(ndir), "-c", str(conf), "-e", str(ndir / "error.log")], log
    )
    try:
        wait_port(port, proc, 10)
    except RuntimeError:
        procs.stop(proc)
        return None
    return proc


def start_upstream(
    procs: Procs, tmp: Path, cpus: str | None, use_nginx: bool = True
) -> tuple[int, str]:
    """Port and description of a running upstream that answers every request 200."""
    port = free_port()
    nginx = nginx_binary()
    if nginx and use_nginx:
        started = start_nginx(
            procs,
            nginx,
            tmp / "nginx",
            port,
            cpus,
            tmp / "nginx.log",
            http="keepalive_requests 100000000;\n  keepalive_timeout 300s;",
            server="location / { default_type application/json; "
            f"return 200 '{UPSTREAM_BODY.decode()}'; }}",
        )
        if started is not None:
            version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
            return port, f"nginx ({version})"
        port = free_port()
    proc = procs.start(
        [*pin(cpus), *bench_subcommand("upstream", "--port", str(port))],
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
