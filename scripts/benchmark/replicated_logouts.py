"""Logout latency with `store.min_replicas_ack: 1` vs 0 (issue 17).

A Redis primary with one replica on loopback (scripts/redis_server.py's
arguments, AOF fsync always on both), and two `gateway run` processes on it
that differ only in min_replicas_ack. One keep-alive connection sends
`POST /cas/logout` with a fresh session each time, so every call is a real
revocation write (plus, with 1, its WAIT); the gateways take turns in
interleaved rounds. Audit fsync is off here so that the store's share is not
hidden behind the audit file's (the logout figures above have it on).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

from redis_server import redis_server_args  # shared with the tests (scripts/)

from .configs import gateway_config, write_config
from .load_client import read_response
from .processes import BIN, Procs, free_port, wait_port
from .procfs import pin, pin_process
from .stats import median

ACKS = (0, 1)


def _online_replicas(port: int) -> int:
    import redis

    with redis.Redis(port=port, socket_timeout=2) as r:
        info = r.info("replication")
    return sum(
        1
        for k, v in info.items()
        if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online"
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def _logouts(port: int, prefix: str, count: int) -> list[float]:
    """`count` sequential CAS logouts on one connection; each one's latency (s)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    latencies: list[float] = []
    try:
        for n in range(count):
            request = (
                f"POST /cas/logout HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Cookie: JSESSIONID={prefix}-{n}\r\nContent-Length: 0\r\n\r\n"
            ).encode()
            t0 = time.perf_counter()
            writer.write(request)
            status = await read_response(reader)
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                raise RuntimeError(f"logout answered {status} (prefix {prefix})")
    finally:
        writer.close()
    return latencies


def replicated_logouts(
    procs: Procs,
    tmp: Path,
    up_port: int,
    cpu_proxy: str | None,
    cpu_load: str | None,
    rounds: int,
    per_round: int,
) -> dict[str, Any] | None:
    """Median/p90/p99 logout latency for each min_replicas_ack; None without redis-server."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    base = tmp / "replicated"
    started = list(procs.procs)  # what this figure starts is stopped at its end
    primary, replica = free_port(), free_port()
    for port, name, of in ((primary, "primary", None), (replica, "replica", primary)):
        (base / name).mkdir(parents=True)
        proc = procs.start(
            [*pin(cpu_load), binary, *redis_server_args(port, base / name, replica_of=of)],
            tmp / f"redis-{name}.log",
        )
        wait_port(port, proc, 10)
    deadline = time.monotonic() + 30
    while _online_replicas(primary) < 1:
        if time.monotonic() > deadline:
            raise RuntimeError("the bench replica did not get in sync")
        time.sleep(0.1)

    gateways: dict[int, int] = {}
    for acks in ACKS:
        port = free_port()
        store = {
            "backend": "redis",
            "redis_url": f"redis://127.0.0.1:{primary}/0",
            "min_replicas_ack": acks,
        }
        name = f"acks{acks}"
        cfg = write_config(
            tmp, name, gateway_config(tmp, name, port, up_port, store, None, None, fsync=False)
        )
        proc = procs.start([str(BIN / "gateway"), "run", "--config", str(cfg)], tmp / f"{name}.log")
        wait_port(port, proc)
        pin_process(proc.pid, cpu_proxy)
        gateways[acks] = port

    samples: dict[int, list[float]] = {acks: [] for acks in ACKS}
    try:
        for acks in ACKS:  # warm-up: connection pools, first WAIT
            asyncio.run(_logouts(gateways[acks], f"warm{acks}", 50))
        for r in range(rounds):
            for acks in ACKS if r % 2 == 0 else reversed(ACKS):
                samples[acks] += asyncio.run(_logouts(gateways[acks], f"r{r}a{acks}", per_round))
    finally:
        for proc in procs.procs:
            if proc not in started:
                procs.stop(proc)

    out: dict[str, Any] = {"calls_per_setting": rounds * per_round}
    for acks, values in samples.items():
        out[f"acks{acks}"] = {
            "p50_ms": median(values) * 1000,
            "p90_ms": _percentile(values, 0.9) * 1000,
            "p99_ms": _percentile(values, 0.99) * 1000,
        }
    out["delta_p50_ms"] = out["acks1"]["p50_ms"] - out["acks0"]["p50_ms"]
    return out
