"""The Redis client when Sentinel names the primary (`store.redis_sentinel`, SPEC §12).

redis-py's asyncio Sentinel does the following work: every new connection of
the pool `master_for` returns first asks the sentinels which primary serves
the service (SENTINEL MASTERS, the first sentinel that answers with a primary
it does not consider down wins and moves to the front of the list), then
connects there. A connection the old primary drops, refuses, or answers
READONLY on (it was demoted to a replica) is a ConnectionError; the store's one
retry then reconnects through the sentinels, so a failover is followed without
a restart. Until the sentinels have promoted a replica there is no primary to
find (MasterNotFoundError, a ConnectionError): the store fails closed like a
dead Redis. A demoted primary that still answers reads is left by the watch in
SentinelPrimary. docs/reliability.md describes what was observed.

`store.redis_url` still supplies everything but the address: the scheme
(rediss:// = TLS, to the primary and to the sentinels), user, password and db
number. The sentinels get no password (Sentinel's own `requirepass` is not
supported: protect them by network, as README says).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import SSLConnection, parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.config import RedisSentinelConfig

__all__ = ["SentinelPrimary", "data_connection_kwargs", "sentinel_timeout"]

log = logging.getLogger("gateway")

# URL parts that name an address: Sentinel supplies it instead.
_ADDRESS_KEYS = ("host", "port", "path", "connection_class")


def data_connection_kwargs(url: str) -> dict[str, Any]:
    """What `store.redis_url` says about a connection, except where it goes."""
    kwargs: dict[str, Any] = dict(parse_url(url))
    tls = kwargs.get("connection_class") is SSLConnection
    for key in _ADDRESS_KEYS:
        kwargs.pop(key, None)
    if tls:
        # SentinelConnectionPool picks its TLS connection class from `ssl`.
        kwargs["ssl"] = True
    return kwargs


def sentinel_timeout(config: RedisSentinelConfig, timeout: float) -> float:
    """How long one sentinel may take to answer. Discovery asks them in turn, so
    one unresponsive sentinel must leave time for the others and the primary
    within the store's bound: an equal share each, one share for the primary."""
    return timeout / (len(config.hosts) + 1)


class SentinelPrimary:
    """The client of the primary Sentinel names, kept pointing at the current one.

    redis-py only asks the sentinels when it opens a connection, so a pooled
    connection to a primary that a failover demoted (SENTINEL FAILOVER, a
    partition that heals) keeps reading from it, stale, until that server drops
    it: about 10 s in our tests (Sentinel's INFO period), while other gateways
    already write to the new primary. So every `watch_interval` seconds the
    sentinels are asked again; when they name another primary, a fresh client
    (a fresh pool) replaces the old one, which is closed once the operations
    still running on it are past the store's bound."""

    def __init__(
        self,
        url: str,
        config: RedisSentinelConfig,
        *,
        timeout: float,
        watch_interval: float = 0.5,
        **connection: Any,
    ) -> None:
        self._config = config
        self._timeout = timeout
        self._interval = watch_interval
        data = data_connection_kwargs(url)
        # Ours win over options in the URL's query: the bounds are the store's.
        self._client_kwargs = {**data, **connection}
        per_sentinel = sentinel_timeout(config, timeout)
        sentinel_kwargs: dict[str, Any] = {
            "socket_connect_timeout": per_sentinel,
            # A sentinel that accepts but never answers (a stopped process still
            # completes TCP handshakes) must not hold up the next one.
            "socket_timeout": per_sentinel,
            # Discovery itself moves on to the next sentinel; retrying one would
            # only spend the time the others need.
            "retry": Retry(NoBackoff(), 0),
            "decode_responses": True,
        }
        if data.get("ssl"):
            sentinel_kwargs["ssl"] = True
            sentinel_kwargs.update({k: v for k, v in data.items() if k.startswith("ssl_")})
        self.manager = Sentinel(list(config.hosts), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
        self.client: Redis = self._new_client()
        self._tasks: set[asyncio.Task[None]] = set()
        self._retired: set[Redis] = set()  # replaced clients, closed once idle

    def _new_client(self) -> Redis:
        client: Redis = self.manager.master_for(self._config.service, **self._client_kwargs)
        return client

    def start_watching(self) -> None:
        address = getattr(self.client.connection_pool, "master_address", None)
        if address is not None:
            log.info(
                "redis primary for %s: %s:%s (per Sentinel)",
                self._config.service,
                address[0],
                address[1],
            )
        self._spawn(self._watch())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                async with asyncio.timeout(self._timeout):
                    named = await self.manager.discover_master(self._config.service)
            except (RedisError, OSError, TimeoutError):
                continue  # no primary to name now: its connections fail on their own
            except Exception:  # a watch that dies would leave stale reads unnoticed
                log.exception("redis sentinel watch: unexpected error (still watching)")
                continue
            current = getattr(self.client.connection_pool, "master_address", None)
            if current is None or tuple(named) == tuple(current):
                continue  # not connected yet, or connections already followed
            log.warning(
                "redis primary for %s is now %s:%s (was %s:%s, per Sentinel): reconnecting",
                self._config.service,
                named[0],
                named[1],
                current[0],
                current[1],
            )
            old, self.client = self.client, self._new_client()
            self._spawn(self._retire(old))

    async def _retire(self, old: Redis) -> None:
        self._retired.add(old)
        await asyncio.sleep(2 * self._timeout)
        self._retired.discard(old)
        with contextlib.suppress(RedisError, OSError):
            await old.aclose()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for client in [*self._retired, self.client]:
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()
        self._retired.clear()
        with contextlib.suppress(RedisError, OSError):
            await self.manager.aclose()
