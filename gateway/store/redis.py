"""Redis store: what several gateway replicas share.

redis-py's asyncio client, so a lookup never blocks the event loop. Every
entry carries a TTL equal to its life (Redis forgets it exactly when the
credential would have expired anyway); multi-key writes are Lua scripts, so a
revocation and what it implies are all written or none. Timeouts are short
and retries bounded: a Redis that does not answer becomes a StoreError (503
with `on_error: deny`) within a bounded time, and the connection pool
reconnects by itself when Redis is back.

Redis must run with `maxmemory-policy noeviction` (an evicted revocation is a
credential brought back to life) and AOF persistence for durability.

With `store.redis_sentinel` the primary is found through Sentinel
(gateway.store.sentinel); with `store.min_replicas_ack: N` every revocation
write is followed, on the same connection, by `WAIT N timeout`, and fewer
acknowledgements are a NotReplicated error (→ 503, never reported as done).
Reads always go to the primary.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar, cast

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.config import RedisSentinelConfig
from gateway.store.base import (
    IndexEntry,
    LogoutRequestRecord,
    NotReplicated,
    Revocation,
    SessionRecord,
    Store,
    StoreError,
    TokenRecord,
)
from gateway.store.sentinel import SentinelPrimary

log = logging.getLogger("gateway")

T = TypeVar("T")

PREFIX = "lg:"

# ARGV[1] = n: KEYS[1..n] are revocation keys, ARGV[2..n+1] their expiry in ms
# (an existing revocation keeps the later expiry). KEYS[n+1] is the hash that
# counts live revocations per minute of expiry (the live-revocations gauge: a
# count without scanning the keyspace); a revocation moved to a later expiry
# moves to that minute. A key after those is a LogoutRequest ID: ARGV[n+2] its
# value, ARGV[n+3] its expiry in ms. One script, so a revocation, its count and
# the ID it issued are all written or none.
# Every key is written even when it already holds the later expiry: WAIT
# (min_replicas_ack) then measures a write of this connection that comes after
# the one it repeats in the ordered replication stream, whatever the server
# makes of a connection that wrote nothing.
_REVOKE = """
local n = tonumber(ARGV[1])
local counts = KEYS[n + 1]
for i = 1, n do
  local exp_s = ARGV[i + 1]
  local cur_s = redis.call('GET', KEYS[i])
  local exp = tonumber(exp_s)
  local cur = tonumber(cur_s or '0')
  if exp > cur then
    redis.call('HINCRBY', counts, math.floor(exp / 60000), 1)
    if cur > 0 then redis.call('HINCRBY', counts, math.floor(cur / 60000), -1) end
  else
    exp_s, exp = cur_s, cur
  end
  redis.call('SET', KEYS[i], exp_s, 'PXAT', exp)
end
if #KEYS > n + 1 then
  redis.call('SET', KEYS[n + 2], ARGV[n + 2], 'PXAT', tonumber(ARGV[n + 3]))
end
return n
"""

# KEYS[1]: the per-minute count hash; ARGV[1]: the caller's now, in minutes.
# Sums the minutes not yet over and drops those that are.
_COUNT_REVOKED = """
local now = tonumber(ARGV[1])
local total = 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local minute = tonumber(fields[i])
  if minute < now then
    redis.call('HDEL', KEYS[1], fields[i])
  else
    total = total + tonumber(fields[i + 1])
  end
end
return total
"""
REVOCATION_COUNTS = PREFIX + "revcount"

# KEYS[1]: session hash; ARGV: created, last_seen, expires_at (s), user or "", expiry ms.
_RECORD_SESSION = """
local key = KEYS[1]
local created = redis.call('HGET', key, 'created') or ARGV[1]
local last = tonumber(redis.call('HGET', key, 'last_seen') or '0')
local exp = tonumber(redis.call('HGET', key, 'expires_at') or '0')
local new_last = math.max(last, tonumber(ARGV[2]))
local new_exp = math.max(exp, tonumber(ARGV[3]))
redis.call('HSET', key, 'created', created, 'last_seen', tostring(new_last),
           'expires_at', tostring(new_exp))
if ARGV[4] ~= '' then redis.call('HSET', key, 'user', ARGV[4]) end
redis.call('PEXPIREAT', key, math.floor(new_exp * 1000))
return 1
"""

# KEYS[1]: session hash; ARGV[1]: now (s). Only ever moves last_seen forward.
_TOUCH_SESSION = """
local last = redis.call('HGET', KEYS[1], 'last_seen')
if last and tonumber(ARGV[1]) > tonumber(last) then
  redis.call('HSET', KEYS[1], 'last_seen', ARGV[1])
end
return 1
"""

# KEYS[1]: meta key; ARGV[1]: value. Set if absent, return what is stored.
# The stored value is written again so that WAIT (min_replicas_ack) covers it
# even when another gateway created it: the fingerprint key must survive a
# failover, or replicas would fingerprint with different keys.
_CLAIM = """
redis.call('SET', KEYS[1], ARGV[1], 'NX')
local stored = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], stored)
return stored
"""


# KEYS: index sorted sets; ARGV: n, then n pairs (member "kind:fp", expiry ms).
# A member keeps its later expiry (GT); each set lives as long as its longest
# member, and members past their expiry (by the server's clock) are dropped as
# the set is written.
_INDEX = """
local n = tonumber(ARGV[1])
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, key in ipairs(KEYS) do
  for i = 1, n do
    redis.call('ZADD', key, 'GT', tonumber(ARGV[2 * i + 1]), ARGV[2 * i])
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now_ms)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] then redis.call('PEXPIREAT', key, math.floor(tonumber(last[2]))) end
end
return n
"""


# KEYS[1]: the claim; ARGV: its expiry ms, the caller's now ms. A script, so
# check-and-set is atomic across replicas; the stored expiry is compared with
# the caller's clock like every other entry (the TTL only frees memory).
_CLAIM_ONCE = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', tonumber(ARGV[1]))
return 1
"""


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _unexpired(raw: bytes | None, now: float) -> str | None:
    if raw is None:
        return None
    exp, _, value = raw.decode().partition(":")
    try:
        return value if int(exp) > _ms(now) else None
    except ValueError as exc:
        raise StoreError("redis store: unreadable entry") from exc


class RedisStore(Store):
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.5,
        sentinel: RedisSentinelConfig | None = None,
        min_replicas_ack: int = 0,
    ) -> None:
        self.url = url
        # Never the URL itself in messages: it may carry a password.
        self.name = "redis store"
        self._timeout = timeout
        self._sentinel_config = sentinel
        self._acks = min_replicas_ack
        # WAIT's own timeout, inside the operation's bound so that WAIT answers
        # with its count (a clear "too few replicas") before _call gives up.
        self._wait_ms = max(1, int(timeout * 800))
        self._redis: Redis | None = None
        self._sentinel: SentinelPrimary | None = None

    async def open(self) -> None:
        connection: dict[str, Any] = {
            # The bound is enforced in _call with asyncio.timeout: redis-py's own
            # socket_timeout wraps every read in wait_for (a task per command).
            "socket_timeout": None,
            "socket_connect_timeout": self._timeout,
            # One quick retry covers a connection Redis closed while idle (and,
            # with Sentinel, one that a failover moved to a new primary); more
            # would only stretch the time until a failing store says so.
            "retry": Retry(NoBackoff(), 1),
            "health_check_interval": 30,
            "decode_responses": False,
        }
        if self._sentinel_config is None:
            self._redis = Redis.from_url(self.url, **connection)
        else:
            self._sentinel = SentinelPrimary(
                self.url, self._sentinel_config, timeout=self._timeout, **connection
            )
        try:
            await self._call(self._r.ping())  # type: ignore[arg-type]
        except StoreError as exc:
            await self.close()
            raise StoreError(f"{self.name}: cannot reach redis: {exc}") from exc
        await self._check_settings()
        await self._check_replicas()
        if self._sentinel is not None:
            self._sentinel.start_watching()

    async def _check_replicas(self) -> None:
        if not self._acks:
            return
        try:
            replicas = await self.online_replicas()
        except StoreError:
            return  # INFO may be disabled by ACL; every write's WAIT still says
        if replicas < self._acks:
            log.warning(
                "store.min_replicas_ack is %d but the redis primary reports %d replica(s) "
                "in sync: every logout answers 503 until enough replicas are back",
                self._acks,
                replicas,
            )

    async def online_replicas(self) -> int:
        """How many replicas the primary reports in sync (INFO replication
        `slaveN: …,state=online`): only those can acknowledge a WAIT. A replica
        still loading its first copy is connected but not online."""
        info = await self._call(self._r.info("replication"))
        return sum(
            1
            for key, value in info.items()
            if key.startswith("slave")
            and isinstance(value, dict)
            and value.get("state") == "online"
        )

    async def _check_settings(self) -> None:
        try:
            policy = await self._call(self._r.config_get("maxmemory-policy"))
        except StoreError:
            return  # CONFIG may be disabled by ACL; README says what is needed
        value = policy.get(b"maxmemory-policy") or policy.get("maxmemory-policy")  # type: ignore[call-overload]
        if isinstance(value, bytes):
            value = value.decode()
        if value and value != "noeviction":
            log.warning(
                "redis maxmemory-policy is %s: under memory pressure Redis may evict "
                "revocations (revoked credentials come back). Use noeviction.",
                value,
            )

    async def close(self) -> None:
        if self._redis is not None:
            redis, self._redis = self._redis, None
            try:
                await redis.aclose()
            except (RedisError, OSError):
                pass
        if self._sentinel is not None:
            sentinel, self._sentinel = self._sentinel, None
            await sentinel.aclose()

    async def _call(self, awaitable: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self._timeout):
                return await awaitable
        except TimeoutError as exc:
            raise StoreError(f"{self.name}: no answer within {self._timeout} s") from exc
        except RedisError as exc:
            raise StoreError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"{self.name}: {exc}") from exc

    @property
    def _r(self) -> Redis:
        if self._sentinel is not None:
            return self._sentinel.client  # replaced when Sentinel names a new primary
        if self._redis is None:
            raise StoreError(f"{self.name}: not open")
        return self._redis

    async def _script(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        # EVAL (not EVALSHA) keeps it stateless across Redis restarts; scripts are tiny.
        return await self._call(self._r.eval(script, len(keys), *keys, *args))  # type: ignore[misc]

    async def _replicated_script(
        self, script: str, keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        """A write that makes a logout done (a revocation, the fingerprint key).
        With min_replicas_ack, WAIT follows it in one pipeline, so both run on
        the same connection (WAIT counts the acknowledgements of the
        connection's own writes); not a MULTI, where WAIT would not block."""
        if not self._acks:
            return await self._script(script, keys, args)
        pipe = self._r.pipeline(transaction=False)
        pipe.eval(script, len(keys), *keys, *args)
        pipe.wait(self._acks, self._wait_ms)
        result, acked = await self._call(pipe.execute())
        if int(acked) < self._acks:
            raise NotReplicated(
                f"{self.name}: the write reached {int(acked)} of {self._acks} replica(s) "
                f"within {self._wait_ms} ms (store.min_replicas_ack)"
            )
        return result

    async def _get(self, key: str) -> bytes | None:
        value = await self._call(self._r.get(key))
        return value.encode() if isinstance(value, str) else value

    # -- the interface -------------------------------------------------------

    async def revoked(self, fingerprints: Sequence[str], now: float) -> frozenset[str]:
        if not fingerprints:
            return frozenset()
        values = await self._call(self._r.mget([PREFIX + "rev:" + fp for fp in fingerprints]))
        now_ms = _ms(now)
        return frozenset(
            fp
            for fp, value in zip(fingerprints, values, strict=True)
            if value is not None and int(value) > now_ms
        )

    async def revoke(
        self,
        revocations: Sequence[Revocation],
        *,
        logout_request: LogoutRequestRecord | None = None,
    ) -> None:
        keys = [PREFIX + "rev:" + r.fingerprint for r in revocations]
        args: list[object] = [len(keys), *(_ms(r.expires_at) for r in revocations)]
        if not keys and logout_request is None:
            return
        keys.append(REVOCATION_COUNTS)
        if logout_request is not None:
            lr = logout_request
            keys.append(PREFIX + "lreq:" + lr.request_id)
            args += [f"{_ms(lr.expires_at)}:{lr.session_id}", _ms(lr.expires_at)]
        await self._replicated_script(_REVOKE, keys, args)

    async def record_session(self, session: SessionRecord) -> None:
        await self._script(
            _RECORD_SESSION,
            [PREFIX + "sess:" + session.fingerprint],
            [
                repr(session.created),
                repr(session.last_seen),
                repr(session.expires_at),
                session.user or "",
            ],
        )

    async def get_session(self, fingerprint: str, now: float) -> SessionRecord | None:
        data = await self._call(self._r.hgetall(PREFIX + "sess:" + fingerprint))  # type: ignore[misc]
        if not data:
            return None
        try:
            expires_at = float(data[b"expires_at"])
            if expires_at <= now:
                return None
            user = data.get(b"user")
            return SessionRecord(
                fingerprint,
                float(data[b"created"]),
                float(data[b"last_seen"]),
                expires_at,
                user.decode() if isinstance(user, bytes) else user,
            )
        except (KeyError, ValueError) as exc:
            raise StoreError(f"{self.name}: unreadable session record") from exc

    async def touch_session(self, fingerprint: str, now: float) -> None:
        await self._script(_TOUCH_SESSION, [PREFIX + "sess:" + fingerprint], [repr(now)])

    # Values that expire carry their expiry ("<ms>:<value>") and are compared
    # with the caller's clock, like every other backend; the TTL only frees memory.

    async def record_ticket(self, ticket_fp: str, session_fp: str, expires_at: float) -> None:
        value = f"{_ms(expires_at)}:{session_fp}"
        await self._call(self._r.set(PREFIX + "tkt:" + ticket_fp, value, pxat=_ms(expires_at)))

    async def session_for_ticket(self, ticket_fp: str, now: float) -> str | None:
        return _unexpired(await self._get(PREFIX + "tkt:" + ticket_fp), now)

    async def purge_expired(self, now: float) -> int:
        return 0  # every key carries its own TTL

    async def record_tokens(self, record: TokenRecord) -> None:
        text = record.to_json()
        fps = [fp for fp in (record.access_fp, record.refresh_fp) if fp]
        if not fps:
            return
        # MULTI/EXEC: both indexes of the pair or neither.
        pipe = self._r.pipeline(transaction=True)
        for fp in fps:
            pipe.set(PREFIX + "tok:" + fp, text, pxat=_ms(record.expires_at))
        await self._call(pipe.execute())

    async def get_token(self, fingerprint: str, now: float) -> TokenRecord | None:
        value = await self._get(PREFIX + "tok:" + fingerprint)
        if value is None:
            return None
        try:
            record = TokenRecord.from_json(value)
        except (ValueError, TypeError) as exc:
            raise StoreError(f"{self.name}: unreadable token record") from exc
        return record if record.expires_at > now else None

    async def record_logout_request(
        self, request_id: str, session_id: str, expires_at: float
    ) -> None:
        value = f"{_ms(expires_at)}:{session_id}"
        await self._call(self._r.set(PREFIX + "lreq:" + request_id, value, pxat=_ms(expires_at)))

    async def logout_request(self, request_id: str, now: float) -> str | None:
        return _unexpired(await self._get(PREFIX + "lreq:" + request_id), now)

    async def is_claimed(self, scope: str, key: str, now: float) -> bool:
        value = await self._get(PREFIX + "once:" + scope + ":" + key)
        try:
            return value is not None and int(value) > _ms(now)
        except ValueError as exc:
            raise StoreError(f"{self.name}: unreadable claim") from exc

    async def claim_once(self, scope: str, key: str, expires_at: float, now: float) -> bool:
        won = await self._script(
            _CLAIM_ONCE, [PREFIX + "once:" + scope + ":" + key], [_ms(expires_at), _ms(now)]
        )
        return bool(won)

    async def index_credentials(self, keys: Sequence[str], entries: Sequence[IndexEntry]) -> None:
        if not keys or not entries:
            return
        args: list[object] = [len(entries)]
        for e in entries:
            args += [f"{e.kind}:{e.fingerprint}", _ms(e.expires_at)]
        await self._script(_INDEX, [PREFIX + "idx:" + k for k in keys], args)

    async def indexed_credentials(self, key: str, now: float) -> list[IndexEntry]:
        rows = await self._call(
            self._r.zrangebyscore(PREFIX + "idx:" + key, f"({_ms(now)}", "+inf", withscores=True)
        )
        entries = []
        for member, score in cast(list[tuple[bytes | str, float]], rows):
            text = member.decode() if isinstance(member, bytes) else str(member)
            kind, _, fp = text.partition(":")
            entries.append(IndexEntry(fp, kind, float(score) / 1000.0))
        return sorted(entries, key=lambda e: (e.kind, e.fingerprint))

    async def count_revoked(self, now: float) -> int:
        total = await self._script(_COUNT_REVOKED, [REVOCATION_COUNTS], [int(now // 60)])
        return max(0, int(total))

    async def claim_meta(self, key: str, value: str) -> str:
        stored = await self._replicated_script(_CLAIM, [PREFIX + "meta:" + key], [value])
        return stored.decode() if isinstance(stored, bytes) else str(stored)
