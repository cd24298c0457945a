"""What `gateway check` asks Redis and its sentinels (SPEC §3, §12), each
finding one line with the key it is about.

* every sentinel in `store.redis_sentinel.hosts` is asked about the service:
  one it cannot reach is a warning while another sentinel names the primary
  (the gateway runs on the rest: blocking a restart then would cost
  availability for nothing), a problem when none can; a sentinel that does not
  monitor `service`, or is no sentinel at all, is a problem (a typo in the
  config, or the wrong port);
* the primary is reached the way `gateway run` reaches it (the URL, or the
  primary the sentinels name);
* `store.min_replicas_ack` above the replicas the primary reports in sync is a
  problem: every logout would answer 503.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from gateway.config import RedisSentinelConfig, StoreConfig
from gateway.store.base import StoreError
from gateway.store.redis import RedisStore
from gateway.store.sentinel import data_connection_kwargs

__all__ = ["Findings", "probe_redis"]

# `gateway check` may wait longer than a request would: it runs once, by hand
# or before a start, and a slow answer is still an answer.
CHECK_TIMEOUT = 2.0


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def probe_redis(store: StoreConfig) -> Findings:
    return asyncio.run(_probe(store))


async def _probe(store: StoreConfig) -> Findings:
    found = Findings()
    if store.redis_sentinel is not None:
        named = await _ask_sentinels(store.redis_url, store.redis_sentinel, found)
        if not named:
            return found  # no primary to reach: the sentinel lines say why
    where = "store.redis_sentinel" if store.redis_sentinel is not None else "store.redis_url"
    # min_replicas_ack 0 here: the replica count is reported below, as a problem
    # line, rather than also as the warning `gateway run` logs.
    client = RedisStore(store.redis_url, timeout=CHECK_TIMEOUT, sentinel=store.redis_sentinel)
    try:
        await client.open()
    except StoreError as exc:
        found.problems.append(f"{where}: {str(exc).removeprefix('redis store: ')}")
        return found
    try:
        if store.min_replicas_ack:
            await _check_replicas(client, store.min_replicas_ack, found)
    finally:
        await client.close()
    return found


async def _ask_sentinels(url: str, config: RedisSentinelConfig, found: Findings) -> bool:
    """Ask every sentinel about the service; True when at least one names a primary."""
    tls: dict[str, Any] = {}
    data = data_connection_kwargs(url)
    if data.get("ssl"):
        tls = {"ssl": True, **{k: v for k, v in data.items() if k.startswith("ssl_")}}
    unreachable: list[str] = []
    strangers: list[str] = []  # sentinels that do not monitor the service
    named = False
    for index, (host, port) in enumerate(config.hosts):
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        key = f"store.redis_sentinel.hosts[{index}]"
        sentinel = Redis(
            host=host,
            port=port,
            socket_timeout=CHECK_TIMEOUT,
            socket_connect_timeout=CHECK_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
            **tls,
        )
        try:
            async with asyncio.timeout(CHECK_TIMEOUT * 2):
                state = await sentinel.execute_command(  # type: ignore[no-untyped-call]
                    "SENTINEL", "MASTER", config.service
                )
        except ResponseError as exc:
            if "no such master" in str(exc).lower():
                strangers.append(address)
            else:
                found.problems.append(f"{key}: {address} is not a Redis Sentinel: {exc}")
            continue
        except (RedisError, OSError, TimeoutError) as exc:
            unreachable.append(f"{key}: cannot reach sentinel {address}: {exc or 'no answer'}")
            continue
        finally:
            await sentinel.aclose()
        named = named or _names_a_primary(state)
    if strangers:
        found.problems.append(
            f"store.redis_sentinel.service: {config.service!r} is not monitored by sentinel "
            f"{', '.join(strangers)} (see its `sentinel monitor` lines)"
        )
    # One sentinel down while others answer is what Sentinel is for: say so, but
    # do not stop the gateway from starting.
    (found.warnings if named else found.problems).extend(unreachable)
    if not named and not found.problems:
        found.problems.append(
            f"store.redis_sentinel: no sentinel names a primary for {config.service!r} "
            "that is up (a failover may be in progress)"
        )
    return named


def _names_a_primary(state: object) -> bool:
    """SENTINEL MASTER's answer (a flat name/value list) names a primary not down."""
    if isinstance(state, dict):
        fields = state
    elif isinstance(state, list):
        fields = dict(zip(state[::2], state[1::2], strict=False))
    else:
        return False
    flags = str(fields.get("flags", "")).split(",")
    return "master" in flags and "s_down" not in flags and "o_down" not in flags


async def _check_replicas(client: RedisStore, wanted: int, found: Findings) -> None:
    try:
        online = await client.online_replicas()
    except StoreError as exc:
        found.warnings.append(
            f"store.min_replicas_ack: cannot read the primary's INFO replication to compare: {exc}"
        )
        return
    if online < wanted:
        found.problems.append(
            f"store.min_replicas_ack: {wanted}, but the primary reports {online} replica(s) "
            "in sync: every logout would answer 503 (add replicas or lower the value)"
        )
