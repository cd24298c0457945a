"""One contract suite, every backend: each test here runs once per store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from gateway.config import RedisSentinelConfig
from gateway.store import Store
from gateway.store.memory import MemoryStore
from gateway.store.redis import RedisStore
from gateway.store.sqlite import SQLiteStore

# redis_sentinel: the primary found through Sentinel, every revocation write
# acknowledged by its replica (min_replicas_ack: 1), so WAIT runs on each one.
BACKENDS = ["memory", "sqlite", "redis", "redis_sentinel"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(
    backend: str, tmp_path, request: pytest.FixtureRequest
) -> Iterator[Callable[[], Store]]:
    """Factory: several handles on the same underlying store (as replicas have)."""
    memory = MemoryStore()
    if backend == "redis":
        server = request.getfixturevalue("redis_server")
        server.flush()
    if backend == "redis_sentinel":
        setup = request.getfixturevalue("redis_sentinel_setup")
        setup.primary.flush()
        sentinel = RedisSentinelConfig(
            tuple(("127.0.0.1", s.port) for s in setup.sentinels), setup.service
        )

    def make() -> Store:
        if backend == "memory":
            return memory  # one process: "replicas" share the object
        if backend == "sqlite":
            return SQLiteStore(tmp_path / "gateway.db")
        if backend == "redis_sentinel":
            # The URL's host:port is not used: Sentinel names the primary. A generous
            # bound: a replica's fsync on a busy machine is not a lost acknowledgement.
            return RedisStore(
                "redis://127.0.0.1:1/0", sentinel=sentinel, min_replicas_ack=1, timeout=2.0
            )
        return RedisStore(server.url)

    yield make


@pytest.fixture
def run():
    loop = asyncio.new_event_loop()
    yield loop.run_until_complete
    loop.close()
