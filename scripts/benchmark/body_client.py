"""`bench.py bodyload`: N concurrent 100 MB uploads or downloads against one
port, timed per transfer; prints one JSON list (one object per transfer).

Per transfer: `status`, `bytes` (body bytes sent or received), `total_s`, and

* download: `ttfb_s`, from the request to the first body byte;
* upload: `send_s` (headers to the last body byte written) and `answer_s`, from
  the last body byte to the first byte of the answer: a proxy that buffered the
  body only then starts sending it upstream, so this shows buffering.

Runs as its own process (pinned with the upstream, away from the proxy) so the
client's work never lands on the proxy's CPU.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

PIECE = memoryview(bytes(range(256)) * 4096)  # 1 MiB, sent again and again


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if line:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
    return status, headers


async def _drain_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> int:
    got = 0
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return got
            await reader.readexactly(size + 2)
            got += size
    left = int(headers.get("content-length", "0"))
    while left:
        data = await reader.read(min(left, 1 << 20))
        if not data:
            break
        left -= len(data)
        got += len(data)
    return got


async def upload(port: int, path: str, n: int) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    t0 = time.perf_counter()
    # PUT: nginx's dav module stores the body and answers once it has all of it.
    writer.write(
        f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-ndjson\r\n"
        f"Content-Length: {n}\r\nConnection: close\r\n\r\n".encode()
    )
    left = n
    while left:
        piece = PIECE[: min(left, len(PIECE))]
        writer.write(piece)
        left -= len(piece)
        await writer.drain()
    t_sent = time.perf_counter()
    status, headers = await _read_head(reader)
    t_answer = time.perf_counter()
    await _drain_body(reader, headers)
    writer.close()
    return {
        "status": status,
        "bytes": n,
        "send_s": t_sent - t0,
        "answer_s": t_answer - t_sent,
        "total_s": t_answer - t0,
    }


async def download(port: int, path: str, n: int) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    t0 = time.perf_counter()
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    status, headers = await _read_head(reader)
    first = await reader.read(1)
    t_first = time.perf_counter()
    headers_left = dict(headers)
    if "content-length" in headers_left:
        headers_left["content-length"] = str(int(headers_left["content-length"]) - len(first))
    got = len(first) + await _drain_body(reader, headers_left)
    t_end = time.perf_counter()
    writer.close()
    return {"status": status, "bytes": got, "ttfb_s": t_first - t0, "total_s": t_end - t0}


async def _many(kind: str, port: int, path: str, n: int, conns: int) -> list[dict[str, Any]]:
    if kind == "up":  # one file per connection on the upstream
        return list(await asyncio.gather(*(upload(port, f"{path}{i}", n) for i in range(conns))))
    return list(await asyncio.gather(*(download(port, path, n) for _ in range(conns))))


def run_bodyload(kind: str, port: int, path: str, n: int, conns: int) -> int:
    print(json.dumps(asyncio.run(_many(kind, port, path, n, conns))), flush=True)
    return 0
