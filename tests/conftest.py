import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests/procs.py and friends are imported as plain modules, and so are the
# helpers the tests share with scripts/ (scripts/children.py, and
# scripts/redis_server.py, which the benchmark starts its redis-server with).
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "scripts"))

from redis_sentinel_setup import SentinelSetup
from redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the whole run; tests that need a fresh one make their own."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_sentinel_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelSetup]:
    """A primary, one replica and one sentinel for the store contract suite (the
    failover tests build their own, larger setup: they kill its primary)."""
    setup = SentinelSetup(tmp_path_factory.mktemp("sentinel"), replicas=1, sentinels=1)
    try:
        yield setup
    finally:
        setup.stop()
