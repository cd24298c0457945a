"""Timing calls in this process: batches of one call, interleaved batches of
several, or each call on its own; and the bare Redis round trip they compare to."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .stats import median


async def timed(call: Callable[[], Awaitable[Any]], n: int, batches: int) -> dict[str, float]:
    """Median over batches of the wall time per call (µs), and CPU per call
    (process CPU time, all threads, over all batches)."""
    for _ in range(min(200, n)):
        await call()
    per: list[float] = []
    cpu0 = time.process_time()
    for _ in range(batches):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            await call()
        per.append((time.perf_counter_ns() - t0) / n / 1000)
    cpu = (time.process_time() - cpu0) / (n * batches) * 1e6
    return {"us": median(per), "cpu_us": cpu, "min_us": min(per), "max_us": max(per)}


async def redis_rtt(url: str, n: int, batches: int) -> dict[str, float]:
    """The round trip alone: a bare asyncio socket sending RESP MGET (2 keys),
    no client library; the floor under any Redis-backed lookup on this host."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    keys = [b"lg:rev:" + b"0" * 32, b"lg:rev:" + b"1" * 32]
    cmd = b"*3\r\n$4\r\nMGET\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(k), k) for k in keys)

    async def call() -> None:
        writer.write(cmd)
        await reader.readline()  # *2
        await reader.readline()  # $-1
        await reader.readline()  # $-1

    try:
        return await timed(call, n, batches)
    finally:
        writer.close()


async def timed_paired(
    calls: dict[str, Callable[[], Awaitable[Any]]], n: int, batches: int
) -> dict[str, dict[str, Any]]:
    """Like `timed`, for several calls measured in interleaved batches (so a
    noisy neighbour hits all of them alike); keeps the per-batch figures."""
    for call in calls.values():
        for _ in range(min(200, n)):
            await call()
    per: dict[str, list[float]] = {k: [] for k in calls}
    cpu: dict[str, float] = dict.fromkeys(calls, 0.0)
    for _ in range(batches):
        for k, call in calls.items():
            c0 = time.process_time()
            t0 = time.perf_counter_ns()
            for _ in range(n):
                await call()
            per[k].append((time.perf_counter_ns() - t0) / n / 1000)
            cpu[k] += time.process_time() - c0
    return {
        k: {
            "us": median(per[k]),
            "cpu_us": cpu[k] / (n * batches) * 1e6,
            "min_us": min(per[k]),
            "max_us": max(per[k]),
            "per": per[k],
        }
        for k in calls
    }


async def timed_each(calls: list[Callable[[], Awaitable[Any]]]) -> dict[str, float]:
    """Each call timed on its own (for slow calls: logouts with fsync)."""
    per: list[float] = []
    cpu0 = time.process_time()
    for call in calls:
        t0 = time.perf_counter_ns()
        await call()
        per.append((time.perf_counter_ns() - t0) / 1000)
    cpu = (time.process_time() - cpu0) / len(calls) * 1e6
    per.sort()
    return {"us": median(per), "cpu_us": cpu, "p90_us": per[int(len(per) * 0.9)]}
