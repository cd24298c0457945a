"""`gateway check` against real sentinels and replicas (SPEC §12, issue 17): a
sentinel it cannot reach, a service it does not know, and min_replicas_ack
above the replicas the primary reports in sync."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from procs import BIN
from redis_sentinel_setup import SentinelSetup
from redis_server import free_port

pytestmark = pytest.mark.slow


def check(tmp_path: Path, **store: Any) -> tuple[int, str]:
    config = {
        "upstream": "http://127.0.0.1:9000",
        "state_dir": str(tmp_path / "state"),
        "routes": {"saml_logout": None, "logout_action": None},
        "store": {"backend": "redis", **store},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [BIN / "gateway", "check", "--config", path], capture_output=True, text=True, timeout=60
    )
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout + result.stderr


def sentinel(setup: SentinelSetup, *extra: str, service: str | None = None) -> dict[str, Any]:
    return {"hosts": [*setup.hosts(), *extra], "service": service or setup.service}


def test_a_healthy_setup_is_ok(tmp_path, redis_sentinel_setup):
    code, out = check(tmp_path, redis_sentinel=sentinel(redis_sentinel_setup), min_replicas_ack=1)
    assert code == 0 and out.strip().endswith(": ok"), out


def test_one_unreachable_sentinel_is_a_warning_while_another_names_the_primary(
    tmp_path, redis_sentinel_setup
):
    dead = f"127.0.0.1:{free_port()}"
    code, out = check(tmp_path, redis_sentinel=sentinel(redis_sentinel_setup, dead))
    assert code == 0, out
    assert f"warning: store.redis_sentinel.hosts[1]: cannot reach sentinel {dead}" in out


def test_no_reachable_sentinel_is_a_problem(tmp_path):
    dead = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    code, out = check(tmp_path, redis_sentinel={"hosts": dead, "service": "mymaster"})
    assert code == 2, out
    assert f"store.redis_sentinel.hosts[0]: cannot reach sentinel {dead[0]}" in out
    assert f"store.redis_sentinel.hosts[1]: cannot reach sentinel {dead[1]}" in out
    assert "warning" not in out


def test_a_service_the_sentinels_do_not_monitor_is_a_problem(tmp_path, redis_sentinel_setup):
    code, out = check(tmp_path, redis_sentinel=sentinel(redis_sentinel_setup, service="mymastr"))
    assert code == 2, out
    assert "store.redis_sentinel.service: 'mymastr' is not monitored by sentinel 127.0.0.1:" in out


def test_a_redis_server_listed_as_a_sentinel_is_a_problem(tmp_path, redis_sentinel_setup):
    primary = f"127.0.0.1:{redis_sentinel_setup.primary.port}"
    code, out = check(tmp_path, redis_sentinel=sentinel(redis_sentinel_setup, primary))
    assert code == 2, out
    assert f"store.redis_sentinel.hosts[1]: {primary} is not a Redis Sentinel" in out


@pytest.mark.parametrize("through_sentinel", [True, False])
def test_more_acks_than_replicas_in_sync_is_a_problem(
    tmp_path, redis_sentinel_setup, through_sentinel
):
    if through_sentinel:
        where: dict[str, Any] = {"redis_sentinel": sentinel(redis_sentinel_setup)}
    else:
        where = {"redis_url": f"redis://127.0.0.1:{redis_sentinel_setup.primary.port}/0"}
    code, out = check(tmp_path, min_replicas_ack=2, **where)
    assert code == 2, out
    assert "store.min_replicas_ack: 2, but the primary reports 1 replica(s) in sync" in out
