"""One contract suite, every backend: each test here runs once per store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from gateway.store import Store
from gateway.store.memory import MemoryStore
from gateway.store.redis import RedisStore
from gateway.store.sqlite import SQLiteStore

BACKENDS = ["memory", "sqlite", "redis"]


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

    def make() -> Store:
        if backend == "memory":
            return memory  # one process: "replicas" share the object
        if backend == "sqlite":
            return SQLiteStore(tmp_path / "gateway.db")
        return RedisStore(server.url)

    yield make


@pytest.fixture
def run():
    loop = asyncio.new_event_loop()
    yield loop.run_until_complete
    loop.close()
