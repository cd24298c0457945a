"""`store.min_replicas_ack` on real Redis processes (SPEC §12, issue 17): a
revocation write is acknowledged only once enough replicas have it.

Loopback replication takes well under a millisecond, so to see WAIT at work
the replica is frozen (SIGSTOP: it keeps its connection, answers nothing).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from redis_sentinel_setup import SentinelSetup
from redis_server import free_port

from gateway.config import RedisSentinelConfig
from gateway.store import NotReplicated, Revocation, Store, StoreError
from gateway.store.redis import RedisStore

NOW = 1_800_000_000.0
FP1 = "aa" * 16
FP2 = "bb" * 16


def store_for(setup: SentinelSetup, acks: int) -> RedisStore:
    sentinel = RedisSentinelConfig(
        tuple(("127.0.0.1", s.port) for s in setup.sentinels), setup.service
    )
    # A generous bound: a replica's fsync on a busy machine must not pass for a
    # lost acknowledgement (the frozen ones below never answer anyway).
    return RedisStore(
        "redis://127.0.0.1:1/0", sentinel=sentinel, min_replicas_ack=acks, timeout=2.0
    )


@pytest.fixture
def setup(redis_sentinel_setup: SentinelSetup) -> Iterator[SentinelSetup]:
    redis_sentinel_setup.primary.flush()
    try:
        yield redis_sentinel_setup
    finally:
        for replica in redis_sentinel_setup.replicas:
            replica.thaw()


@pytest.fixture
def opened(run):
    stores: list[Store] = []

    def open_(store: Store) -> Store:
        run(store.open())
        stores.append(store)
        return store

    yield open_
    for store in stores:
        run(store.close())


def test_acknowledged_revocation_is_on_the_replica(setup, opened, run):
    store = opened(store_for(setup, 1))
    run(store.revoke([Revocation(FP1, "session", NOW + 60)]))
    # The replica has it the moment revoke returns (WAIT), not eventually.
    assert setup.replicas[0].command("GET", "lg:rev:" + FP1).startswith(b"$13\r\n")


def test_frozen_replica_makes_the_revocation_not_replicated(setup, opened, run):
    store = opened(store_for(setup, 1))
    setup.replicas[0].freeze()
    with pytest.raises(NotReplicated, match=r"reached 0 of 1 replica\(s\) within 1600 ms"):
        run(store.revoke([Revocation(FP1, "session", NOW + 60)]))
    # It is on the primary (a check sees it), only not known to survive a failover.
    assert run(store.revoked([FP1], NOW)) == {FP1}
    setup.replicas[0].thaw()
    run(store.revoke([Revocation(FP1, "session", NOW + 60)]))


def test_without_acks_a_frozen_replica_changes_nothing(setup, opened, run):
    store = opened(store_for(setup, 0))
    setup.replicas[0].freeze()
    run(store.revoke([Revocation(FP1, "session", NOW + 60)]))
    assert run(store.revoked([FP1], NOW)) == {FP1}


def test_more_acks_than_replicas_is_never_acknowledged(setup, opened, run):
    store = opened(store_for(setup, 2))
    with pytest.raises(NotReplicated, match=r"reached 1 of 2 replica\(s\)"):
        run(store.revoke([Revocation(FP1, "session", NOW + 60)]))


def test_repeating_a_revocation_another_gateway_wrote_still_waits_for_it(setup, opened, run):
    """Gateway A's write is on the primary only (replica frozen); B revokes the
    same credential with an earlier expiry. B must not answer "done" (its
    script writes again, after A's write in the replication stream)."""
    a = opened(store_for(setup, 0))
    b = opened(store_for(setup, 1))
    setup.replicas[0].freeze()
    run(a.revoke([Revocation(FP2, "token", NOW + 600)]))
    with pytest.raises(NotReplicated):
        run(b.revoke([Revocation(FP2, "token", NOW + 60)]))
    assert run(b.revoked([FP2], NOW + 300)) == {FP2}  # the later expiry kept


def test_fingerprint_key_is_acknowledged_before_a_gateway_starts(setup, opened, run):
    first = opened(store_for(setup, 0))
    key = run(first.fingerprint_key(None))
    second = opened(store_for(setup, 1))
    setup.replicas[0].freeze()
    # Even a key another gateway created must be on a replica before this one uses it.
    with pytest.raises(NotReplicated):
        run(second.fingerprint_key(None))
    setup.replicas[0].thaw()
    assert run(second.fingerprint_key(None)) == key


# --------------------------------------------------------------------------- finding the primary


@pytest.fixture
def silent_sentinel() -> Iterator[tuple[str, int]]:
    """An address that completes TCP handshakes and never answers (a frozen
    host): the kernel queues connections on a socket nobody accepts from."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield "127.0.0.1", s.getsockname()[1]


@pytest.mark.parametrize("first", ["silent", "refusing"])
def test_a_dead_first_sentinel_does_not_stop_discovery(setup, opened, run, silent_sentinel, first):
    """Discovery asks the sentinels in turn, each within its share of the
    store's bound: the next one names the primary and the write goes through."""
    if first == "silent":
        dead = silent_sentinel
    else:
        dead = ("127.0.0.1", free_port())
    live = tuple(("127.0.0.1", s.port) for s in setup.sentinels)
    sentinel = RedisSentinelConfig((dead, *live), setup.service)
    store = opened(RedisStore("redis://127.0.0.1:1/0", sentinel=sentinel, min_replicas_ack=1))
    run(store.revoke([Revocation(FP1, "session", NOW + 60)]))
    assert run(store.revoked([FP1], NOW)) == {FP1}


def test_no_sentinel_answering_is_a_store_error_not_a_hang(run, silent_sentinel):
    sentinel = RedisSentinelConfig((silent_sentinel, ("127.0.0.1", free_port())), "mymaster")
    store = RedisStore("redis://127.0.0.1:1/0", sentinel=sentinel)
    with pytest.raises(StoreError, match="cannot reach redis"):
        run(store.open())
