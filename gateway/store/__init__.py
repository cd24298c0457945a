"""Revocation and session stores behind one interface (see `base.Store`)."""

from __future__ import annotations

from gateway.config import StoreConfig
from gateway.store.base import (
    IndexEntry,
    KeyMismatch,
    LogoutRequestRecord,
    NotReplicated,
    Revocation,
    SessionRecord,
    Store,
    StoreCorrupt,
    StoreError,
    TokenRecord,
)
from gateway.store.measured import MeasuredStore

# What callers need: import it from here, never from `gateway.store.base`
# (the backends inside this package do that).
__all__ = [
    "IndexEntry",
    "KeyMismatch",
    "LogoutRequestRecord",
    "MeasuredStore",
    "NotReplicated",
    "Revocation",
    "SessionRecord",
    "Store",
    "StoreCorrupt",
    "StoreError",
    "TokenRecord",
    "make_store",
]


def make_store(config: StoreConfig) -> Store:
    if config.backend == "memory":
        from gateway.store.memory import MemoryStore

        return MemoryStore()
    if config.backend == "sqlite":
        from gateway.store.sqlite import SQLiteStore

        return SQLiteStore(config.sqlite_path)
    if config.backend == "redis":
        from gateway.store.redis import RedisStore

        return RedisStore(
            config.redis_url,
            sentinel=config.redis_sentinel,
            min_replicas_ack=config.min_replicas_ack,
        )
    raise StoreError(f"store.backend: unknown backend {config.backend!r}")
