"""`bench.py load`: an asyncio keep-alive load client (when wrk is not installed)."""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import time
from typing import Any

from .workload import PASS_HEADERS, PASS_PATH, Load


def request_bytes(load: Load, port: int, n: int) -> bytes:
    """The `n`th request of `load`, on the wire (CAS and SAML: fresh credentials each)."""
    host = f"Host: 127.0.0.1:{port}\r\n"
    if load.kind == "pass":
        extra = "".join(f"{k}: {v}\r\n" for k, v in PASS_HEADERS)
        return f"GET {PASS_PATH} HTTP/1.1\r\n{host}{extra}\r\n".encode()
    if load.kind == "cas":
        sid = f"{load.prefix}-{n}"
        return (
            f"POST /cas/logout HTTP/1.1\r\n{host}"
            f"Cookie: lang=en-US; JSESSIONID={sid}; theme=dark\r\n"
            f"Authorization: Bearer tok-{sid}\r\nContent-Length: 0\r\n\r\n"
        ).encode()
    body = f'{{"token":"{load.prefix}{load.start + n}"}}'
    return (
        f"POST /_security/saml/logout HTTP/1.1\r\n{host}Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one whole HTTP/1.1 response (sized or chunked); its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if m:
        await reader.readexactly(int(m.group(1)))
    elif re.search(rb"(?im)^transfer-encoding:\s*chunked", head):
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def asyncio_load(port: int, load: Load, duration: float, conns: int) -> dict[str, Any]:
    latencies: list[float] = []
    counter = [0]
    errors = [0, 0]  # transport errors, non-2xx/3xx
    deadline = time.monotonic() + duration

    async def worker() -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            errors[0] += 1
            return
        try:
            while time.monotonic() < deadline:
                n = counter[0]
                counter[0] += 1
                t0 = time.perf_counter()
                writer.write(request_bytes(load, port, n))
                status = await read_response(reader)
                latencies.append(time.perf_counter() - t0)
                if not 200 <= status < 400:
                    errors[1] += 1
        except (OSError, asyncio.IncompleteReadError):
            errors[0] += 1
        finally:
            writer.close()

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(conns)))
    elapsed = time.monotonic() - t0
    lat = sorted(latencies) or [0.0]
    return {
        "requests": len(latencies),
        "duration_us": int(elapsed * 1e6),
        "errors": errors[0],
        "non2xx": errors[1],
        "lat_mean_us": statistics.fmean(lat) * 1e6,
        "lat_p50_us": lat[len(lat) // 2] * 1e6,
        "lat_p99_us": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e6,
        "lat_max_us": lat[-1] * 1e6,
    }


def run_load(port: int, load: Load, duration: float, conns: int) -> int:
    """One load window; prints the "BENCH {json}" line Loader reads."""
    result = asyncio.run(asyncio_load(port, load, duration, conns))
    print("BENCH " + json.dumps(result), flush=True)
    return 0
