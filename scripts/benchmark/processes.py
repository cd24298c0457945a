"""Every process the benchmark starts: how it is started, waited for and stopped."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from children import child_env  # scripts/ is sys.path[0] when run as scripts/bench.py

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The entry point whose subcommands (lean, upstream, load, memrss) are children.
BENCH_PY = ROOT / "scripts" / "bench.py"


def bench_subcommand(name: str, *args: str) -> list[str]:
    """The argv of `bench.py <name> <args>` in this interpreter."""
    return [sys.executable, str(BENCH_PY), name, *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
