"""Redis stall: requests without credentials must not wait for Redis."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .load_client import read_response
from .stats import median
from .workload import PASS_HEADERS, PASS_PATH


async def redis_stall(gw_port: int, redis_port: int, stall_s: float = 0.3) -> dict[str, Any]:
    async def conn() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", gw_port)

    def req(with_creds: bool) -> bytes:
        extra = "".join(f"{k}: {v}\r\n" for k, v in PASS_HEADERS) if with_creds else ""
        return f"GET {PASS_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()

    r_cred, w_cred = await conn()
    r_free, w_free = await conn()
    for r, w, c in ((r_cred, w_cred, True), (r_free, w_free, False)):
        w.write(req(c))
        assert await read_response(r) == 200

    # Block Redis entirely for stall_s (DEBUG SLEEP; a busy Lua script if DEBUG is off).
    rr, rw = await asyncio.open_connection("127.0.0.1", redis_port)
    ms = int(stall_s * 1000)
    rw.write(f"DEBUG SLEEP {stall_s}\r\n".encode())
    await asyncio.sleep(0.02)
    method = "DEBUG SLEEP"
    if rr.at_eof() or len(rr._buffer):  # an immediate error: DEBUG is disabled
        line = await rr.readline()
        if line.startswith(b"-"):
            lua = (
                "local t=redis.call('TIME') local s=t[1]*1000+t[2]/1000 "
                "while true do local n=redis.call('TIME') "
                f"if n[1]*1000+n[2]/1000-s>{ms} then break end end return 1"
            )
            rw.write(f'EVAL "{lua}" 0\r\n'.encode())
            method = "busy Lua script"
            await asyncio.sleep(0.02)
    t_cred = time.perf_counter()
    w_cred.write(req(True))
    cred_task = asyncio.ensure_future(read_response(r_cred))
    free_lat: list[float] = []
    free_status: set[int] = set()
    while not cred_task.done():
        t0 = time.perf_counter()
        w_free.write(req(False))
        free_status.add(await read_response(r_free))
        free_lat.append(time.perf_counter() - t0)
    cred_status = await cred_task
    cred_wait = time.perf_counter() - t_cred
    await rr.readline()
    for w in (w_cred, w_free, rw):
        w.close()
    return {
        "method": method,
        "stall_ms": ms,
        "credentialed_wait_ms": cred_wait * 1000,
        "credentialed_status": cred_status,
        "free_requests_during_stall": len(free_lat),
        "free_statuses": sorted(free_status),
        "free_max_ms": max(free_lat) * 1000 if free_lat else float("nan"),
        "free_median_ms": median(free_lat) * 1000 if free_lat else float("nan"),
    }
