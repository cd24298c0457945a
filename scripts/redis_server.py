"""redis-server as the tests and the benchmark start it: one argument list.

Shared by the tests (`from redis_server import RedisServer`; tests/conftest.py
puts scripts/ on sys.path) and scripts/benchmark, so both run the server
configured as README tells operators to run it. Replicas (`replica_of`) and
sentinels (`RedisSentinel`, `sentinel_conf`) grow from the same code; the
Sentinel topology of the failover tests and benchmark is `SentinelSetup` in
scripts/redis_sentinel_setup.py.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path


def redis_server_args(
    port: int,
    directory: Path,
    *,
    debug_command: bool = False,
    replica_of: int | None = None,
) -> list[str]:
    """redis-server's options (without the binary) for a server on 127.0.0.1:`port`.

    AOF with fsync on every write: revocations acknowledged before a crash must
    be there after it; noeviction: a revocation is never dropped for memory.
    `debug_command` allows DEBUG from localhost (the benchmark stalls Redis
    with DEBUG SLEEP); redis-server < 7 rejects the option, so it is opt-in.
    `replica_of`: the port of the primary on 127.0.0.1 this server replicates.
    """
    args = [
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(directory),
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
        "--maxmemory-policy",
        "noeviction",
        "--protected-mode",
        "yes",
        # A replica attaching gets its first copy at once, not after the
        # default 5 s wait for other replicas to share the transfer.
        "--repl-diskless-sync-delay",
        "0",
    ]
    if debug_command:
        args += ["--enable-debug-command", "local"]
    if replica_of is not None:
        args += ["--replicaof", "127.0.0.1", str(replica_of)]
    return args


def sentinel_conf(
    port: int,
    directory: Path,
    *,
    service: str,
    primary_port: int,
    quorum: int,
    down_after_ms: int = 1000,
    failover_timeout_ms: int = 3000,
) -> Path:
    """A sentinel.conf (Sentinel rewrites its own file, so it must be one) for a
    sentinel on 127.0.0.1:`port` watching the primary on 127.0.0.1:`primary_port`.

    `down_after_ms` / `failover_timeout_ms` are far below production values
    (README's example says what to use there) so that a test's failover takes
    seconds; `parallel-syncs` lets every remaining replica follow the new
    primary at once."""
    conf = directory / "sentinel.conf"
    conf.write_text(
        f"""port {port}
bind 127.0.0.1
dir {directory}
sentinel monitor {service} 127.0.0.1 {primary_port} {quorum}
sentinel down-after-milliseconds {service} {down_after_ms}
sentinel failover-timeout {service} {failover_timeout_ms}
sentinel parallel-syncs {service} 8
"""
    )
    return conf


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A real redis-server for the tests (Debian package; ./scripts/test installs it)."""

    def __init__(
        self, directory: Path, port: int | None = None, *, replica_of: int | None = None
    ) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found: run ./scripts/test, which installs it")
        self.binary = binary
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.replica_of = replica_of
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def argv(self) -> list[str]:
        return [
            self.binary,
            *redis_server_args(self.port, self.dir, replica_of=self.replica_of),
        ]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.ping():
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args: str) -> bytes:
        """A raw RESP command (tests only)."""
        parts = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(b"".join(parts))
            return s.recv(65536)

    def flush(self) -> None:
        self.command("FLUSHALL")

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def freeze(self) -> None:
        """SIGSTOP: the process keeps its sockets but answers nothing (a hung host)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.thaw()  # a stopped process would not act on SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class RedisSentinel(RedisServer):
    """A real Redis Sentinel (Debian package redis-sentinel; `redis-server --sentinel`
    is the same program, used where only redis-server is installed)."""

    def __init__(
        self,
        directory: Path,
        *,
        service: str,
        primary_port: int,
        quorum: int,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.conf = sentinel_conf(
            port,
            directory,
            service=service,
            primary_port=primary_port,
            quorum=quorum,
            down_after_ms=down_after_ms,
            failover_timeout_ms=failover_timeout_ms,
        )
        super().__init__(directory, port)

    def argv(self) -> list[str]:
        sentinel = shutil.which("redis-sentinel")
        if sentinel is not None:
            return [sentinel, str(self.conf)]
        return [self.binary, str(self.conf), "--sentinel"]
