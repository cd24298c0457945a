"""`store.redis_sentinel` and `store.min_replicas_ack` (SPEC §4.1, §12, issue 17):
defaults, what is accepted, and every refusal with its key path, all at once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gateway.config import ConfigError, RedisSentinelConfig, parse_config
from gateway.store.sentinel import data_connection_kwargs, sentinel_timeout

HOSTS = ["10.0.0.1:26379", "sentinel-2.internal:26379", "[fd00::3]:26380"]


def doc(**store: Any) -> dict[str, Any]:
    return {
        "upstream": "http://127.0.0.1:9000",
        "routes": {"logout_action": None, "saml_logout": None},
        "store": store,
    }


def errors_of(data: object, tmp_path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, tmp_path)
    return info.value.errors


def test_defaults(tmp_path: Path) -> None:
    store = parse_config(doc(), tmp_path).store
    assert store.redis_sentinel is None
    assert store.min_replicas_ack == 0


def test_sentinel_and_acks_accepted(tmp_path: Path) -> None:
    store = parse_config(
        doc(
            backend="redis",
            redis_url="rediss://:pw@ignored:6379/3",
            redis_sentinel={"hosts": HOSTS, "service": "gateway-store.1"},
            min_replicas_ack=1,
        ),
        tmp_path,
    ).store
    assert store.redis_sentinel == RedisSentinelConfig(
        (("10.0.0.1", 26379), ("sentinel-2.internal", 26379), ("fd00::3", 26380)),
        "gateway-store.1",
    )
    assert store.min_replicas_ack == 1


def test_min_replicas_ack_without_sentinel(tmp_path: Path) -> None:
    # WAIT works on a plain primary with replicas too (no automatic failover).
    store = parse_config(doc(backend="redis", min_replicas_ack=2), tmp_path).store
    assert (store.redis_sentinel, store.min_replicas_ack) == (None, 2)


def test_every_mistake_at_once_with_its_key(tmp_path: Path) -> None:
    errors = errors_of(
        doc(
            backend="redis",
            redis_sentinel={
                "hosts": ["s1", "s2:0", "s3:26379", "S3:26379", 26379, "redis://s4:26379", "s5:x"],
                "service": "my master",
                "quorum": 2,
            },
            min_replicas_ack=-1,
        ),
        tmp_path,
    )
    assert errors == [
        "store.redis_sentinel.quorum: unknown key",
        "store.redis_sentinel.hosts[0]: invalid sentinel address 's1': "
        'a port is required, e.g. "sentinel-1.internal:26379"',
        "store.redis_sentinel.hosts[1]: invalid sentinel address 's2:0': "
        "port must be between 1 and 65535 (got 0)",
        "store.redis_sentinel.hosts[3]: listed twice ('S3:26379')",
        'store.redis_sentinel.hosts[4]: must be a string "host:port" (got 26379)',
        'store.redis_sentinel.hosts[5]: must be "host:port", without scheme, user or path '
        "(got 'redis://s4:26379')",
        "store.redis_sentinel.hosts[6]: invalid sentinel address 's5:x': invalid port 'x'",
        "store.redis_sentinel.service: must be the master name the sentinels monitor: 1 to 64 "
        "letters, digits, '.', '-' or '_' (got 'my master')",
        "store.min_replicas_ack: must be between 0 and 100 (got -1)",
    ]


@pytest.mark.parametrize(
    ("sentinel", "expected"),
    [
        ({}, ["hosts", "service"]),
        ({"hosts": ["s:1"]}, ["service"]),
        ({"service": "m"}, ["hosts"]),
    ],
)
def test_hosts_and_service_are_required(
    tmp_path: Path, sentinel: dict[str, Any], expected: list[str]
) -> None:
    errors = errors_of(doc(backend="redis", redis_sentinel=sentinel), tmp_path)
    assert errors == [
        f"store.redis_sentinel.{key}: required when store.redis_sentinel is set" for key in expected
    ]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (["s:1"], "must be a mapping (got a list)"),
        ({"hosts": [], "service": "m"}, None),
        ({"hosts": "s:1", "service": "m"}, None),
    ],
)
def test_malformed_sentinel_section(tmp_path: Path, value: object, problem: str | None) -> None:
    errors = errors_of(doc(backend="redis", redis_sentinel=value), tmp_path)
    if problem is not None:
        assert errors == [f"store.redis_sentinel: {problem}"]
    else:
        assert len(errors) == 1 and errors[0].startswith("store.redis_sentinel.hosts: must")


@pytest.mark.parametrize("value", [True, 1.5, "1", None])
def test_min_replicas_ack_must_be_an_integer(tmp_path: Path, value: object) -> None:
    errors = errors_of(doc(backend="redis", min_replicas_ack=value), tmp_path)
    assert len(errors) == 1 and errors[0].startswith("store.min_replicas_ack: must be an integer")


@pytest.mark.parametrize("backend", ["sqlite", "memory"])
def test_only_with_the_redis_backend(tmp_path: Path, backend: str) -> None:
    errors = errors_of(
        doc(
            backend=backend,
            redis_sentinel={"hosts": ["s:26379"], "service": "m"},
            min_replicas_ack=1,
        ),
        tmp_path,
    )
    assert errors == [
        f"store.redis_sentinel: only used with store.backend: redis (got {backend})",
        f"store.min_replicas_ack: only used with store.backend: redis (got {backend})",
    ]


def test_zero_and_null_are_fine_on_any_backend(tmp_path: Path) -> None:
    store = parse_config(doc(redis_sentinel=None, min_replicas_ack=0), tmp_path).store
    assert store.backend == "sqlite"


def test_an_unknown_backend_is_the_only_complaint(tmp_path: Path) -> None:
    errors = errors_of(doc(backend="mysql", min_replicas_ack=1), tmp_path)
    assert errors == ["store.backend: must be one of memory, sqlite, redis (got 'mysql')"]


def test_unix_socket_url_cannot_follow_a_sentinel(tmp_path: Path) -> None:
    errors = errors_of(
        doc(
            backend="redis",
            redis_url="unix:///run/redis.sock",
            redis_sentinel={"hosts": ["s:26379"], "service": "m"},
        ),
        tmp_path,
    )
    assert errors == [
        "store.redis_url: a unix:// socket cannot be combined with store.redis_sentinel "
        "(Sentinel names the primary by host:port; use redis:// or rediss://)"
    ]


# --------------------------------------------------------------------------- the URL's part


def test_with_sentinel_the_url_keeps_credentials_db_and_tls_but_not_the_address() -> None:
    kwargs = data_connection_kwargs("rediss://user:p%40ss@old-primary:6380/4")
    assert kwargs == {"username": "user", "password": "p@ss", "db": 4, "ssl": True}
    assert data_connection_kwargs("redis://127.0.0.1:6379/0") == {"db": 0}


def test_one_slow_sentinel_leaves_time_for_the_others_and_the_primary() -> None:
    three = RedisSentinelConfig((("a", 1), ("b", 1), ("c", 1)), "m")
    assert sentinel_timeout(three, 0.5) == pytest.approx(0.125)
    assert sentinel_timeout(three, 0.5) * 3 < 0.5


def test_options_in_the_url_cannot_loosen_the_store_bounds() -> None:
    from gateway.store.sentinel import SentinelPrimary

    config = RedisSentinelConfig((("127.0.0.1", 26379),), "m")
    url = "redis://:pw@ignored/2?socket_connect_timeout=30&socket_timeout=30"
    primary = SentinelPrimary(
        url, config, timeout=0.5, socket_timeout=None, socket_connect_timeout=0.5
    )
    kwargs = primary.client.connection_pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (None, 0.5)
    assert (kwargs["password"], kwargs["db"]) == ("pw", 2)
    # The sentinels get an equal share of the bound, never the URL's options.
    sentinel_kwargs = primary.manager.sentinels[0].connection_pool.connection_kwargs
    assert sentinel_kwargs["socket_timeout"] == sentinel_kwargs["socket_connect_timeout"] == 0.25
    assert "password" not in sentinel_kwargs or sentinel_kwargs["password"] is None
    asyncio.run(primary.aclose())
