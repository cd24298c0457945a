"""A Sentinel-managed Redis on 127.0.0.1 for the failover tests: one primary,
its replicas and the sentinels watching them, each a real process started from
scripts/redis_server.py's arguments.

Waiting is by polling what the servers themselves report (INFO replication,
SENTINEL MASTER), with generous bounds: a failover takes seconds, and the
machine running the tests may be small and busy.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import redis
from redis_server import RedisSentinel, RedisServer

SERVICE = "mymaster"


def _client(port: int) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_timeout=2,
        socket_connect_timeout=2,
        decode_responses=True,
    )


def online_replicas(port: int) -> int:
    """Replicas the server on `port` reports in sync (0 when it does not answer)."""
    try:
        with _client(port) as c:
            info: dict[str, Any] = c.info("replication")
    except redis.RedisError:
        return 0
    return sum(
        1
        for key, value in info.items()
        if key.startswith("slave") and isinstance(value, dict) and value.get("state") == "online"
    )


class SentinelSetup:
    """One primary, `replicas` replicas and `sentinels` sentinels (quorum: a majority)."""

    def __init__(
        self,
        directory: Path,
        *,
        replicas: int = 2,
        sentinels: int = 3,
        service: str = SERVICE,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
    ) -> None:
        self.service = service
        self.primary = RedisServer(directory / "primary")
        self.servers: list[RedisServer] = [self.primary]
        self.sentinels: list[RedisSentinel] = []
        try:
            for i in range(replicas):
                self.servers.append(
                    RedisServer(directory / f"replica{i + 1}", replica_of=self.primary.port)
                )
            self._wait(
                lambda: online_replicas(self.primary.port) == replicas, 60, "replicas in sync"
            )
            for i in range(sentinels):
                self.sentinels.append(
                    RedisSentinel(
                        directory / f"sentinel{i + 1}",
                        service=service,
                        primary_port=self.primary.port,
                        quorum=sentinels // 2 + 1,
                        down_after_ms=down_after_ms,
                        failover_timeout_ms=failover_timeout_ms,
                    )
                )
            self._wait(lambda: self._sentinels_see_all(replicas), 60, "sentinels ready")
        except BaseException:
            self.stop()
            raise

    @property
    def replicas(self) -> list[RedisServer]:
        return [s for s in self.servers if s is not self.primary]

    def hosts(self) -> list[str]:
        """`store.redis_sentinel.hosts` for this setup."""
        return [f"127.0.0.1:{s.port}" for s in self.sentinels]

    def sentinel_view(self, sentinel: RedisSentinel) -> dict[str, Any] | None:
        try:
            with _client(sentinel.port) as c:
                state: dict[str, Any] = c.sentinel_master(self.service)  # type: ignore[assignment]
                return state
        except redis.RedisError:
            return None

    def _sentinels_see_all(self, replicas: int) -> bool:
        for s in self.sentinels:
            view = self.sentinel_view(s)
            if view is None or view.get("num-slaves") != replicas:
                return False
            if view.get("num-other-sentinels") != len(self.sentinels) - 1:
                return False
        return True

    def named_primary(self) -> int | None:
        """The primary's port if every sentinel names the same one, else None."""
        ports = set()
        for s in self.sentinels:
            view = self.sentinel_view(s)
            if view is None:
                return None
            ports.add(int(view["port"]))
        return ports.pop() if len(ports) == 1 else None

    def server_on(self, port: int) -> RedisServer:
        return next(s for s in self.servers if s.port == port)

    def wait_failover(self, *, replicas_in_sync: int, timeout: float = 90) -> RedisServer:
        """After the primary died: wait until every sentinel names a new primary
        and it reports `replicas_in_sync` replicas in sync; make it `primary`."""
        old = self.primary.port

        def switched() -> bool:
            port = self.named_primary()
            return port is not None and port != old and online_replicas(port) >= replicas_in_sync

        self._wait(switched, timeout, "failover")
        port = self.named_primary()
        assert port is not None
        self.primary = self.server_on(port)
        return self.primary

    @staticmethod
    def _wait(condition: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        raise RuntimeError(f"redis sentinel setup: no {what} after {timeout:.0f} s")

    def stop(self) -> None:
        for s in [*self.sentinels, *self.servers]:
            s.stop()
