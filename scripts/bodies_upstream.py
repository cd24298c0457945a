#!/usr/bin/env python3
"""A small HTTP/1.1 upstream for large bodies, streaming both ways: it never
holds a body. Used by tests/e2e/test_streaming_e2e.py and by the bodies section
of scripts/bench.

    POST|PUT /upload…                   reads the body (Content-Length or chunked),
                                        answers {"bytes": N, "sha256": "<hex>"}
    GET /download?bytes=N[&chunked=1]   N bytes of a fixed pattern, streamed, with
                                        Content-Length (or chunked); the header
                                        X-Content-Sha256 is their SHA-256
    GET /__stats                        {"connections", "requests", "body_bytes"}: what
                                        reached it, its own /__ calls not counted
    POST /__reset                       zeroes those counters
    anything else                       200 {"ok": true}

    python scripts/bodies_upstream.py --port 0    # prints "bodies upstream listening on http://HOST:PORT"
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sys
from urllib.parse import parse_qs, urlsplit

BLOCK = random.Random(16).randbytes(64 * 1024)  # the download pattern, repeated
READ = 256 * 1024

STATS = {"connections": 0, "requests": 0, "body_bytes": 0}
_SHA_CACHE: dict[int, str] = {}


def pattern_sha256(n: int) -> str:
    """SHA-256 of the first n bytes of the repeated pattern."""
    if n not in _SHA_CACHE:
        h = hashlib.sha256()
        full, rest = divmod(n, len(BLOCK))
        for _ in range(full):
            h.update(BLOCK)
        h.update(BLOCK[:rest])
        _SHA_CACHE[n] = h.hexdigest()
    return _SHA_CACHE[n]


class BadRequest(Exception):
    pass


async def read_head(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str]] | None:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = raw.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return method, target, headers


async def body_chunks(reader: asyncio.StreamReader, headers: dict[str, str]):
    """The request body as it arrives (Content-Length or chunked)."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                return
            left = size
            while left:
                data = await reader.read(min(left, READ))
                if not data:
                    raise BadRequest("connection closed inside a chunk")
                left -= len(data)
                yield data
            await reader.readexactly(2)
    else:
        left = int(headers.get("content-length", "0") or 0)
        while left:
            data = await reader.read(min(left, READ))
            if not data:
                raise BadRequest("connection closed inside the body")
            left -= len(data)
            yield data


def head(status: int, headers: list[tuple[str, str]]) -> bytes:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "OK")
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def send_json(writer: asyncio.StreamWriter, status: int, payload: object) -> None:
    body = json.dumps(payload).encode()
    writer.write(
        head(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    )
    writer.write(body)
    await writer.drain()


async def send_download(writer: asyncio.StreamWriter, n: int, chunked: bool) -> None:
    framing = ("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(n))
    writer.write(
        head(
            200,
            [
                ("Content-Type", "application/octet-stream"),
                framing,
                ("X-Content-Sha256", pattern_sha256(n)),
            ],
        )
    )
    left = n
    while left:
        piece = BLOCK[: min(left, len(BLOCK))]
        left -= len(piece)
        writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        await writer.drain()
    if chunked:
        writer.write(b"0\r\n\r\n")
    await writer.drain()


async def serve_one(method: str, target: str, headers: dict[str, str], reader, writer) -> None:
    url = urlsplit(target)
    internal = url.path.startswith("/__")
    if not internal:
        STATS["requests"] += 1
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    sha = hashlib.sha256()
    received = 0
    async for data in body_chunks(reader, headers):
        received += len(data)
        if not internal:
            STATS["body_bytes"] += len(data)
        sha.update(data)
    if url.path == "/__stats":
        await send_json(writer, 200, STATS)
    elif url.path == "/__reset":
        for key in STATS:
            STATS[key] = 0
        await send_json(writer, 200, STATS)
    elif url.path.startswith("/upload"):
        await send_json(writer, 200, {"bytes": received, "sha256": sha.hexdigest()})
    elif url.path == "/download":
        query = parse_qs(url.query)
        n = int(query.get("bytes", ["0"])[0])
        await send_download(writer, n, query.get("chunked", ["0"])[0] == "1")
    else:
        await send_json(writer, 200, {"ok": True})


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    counted = False
    try:
        while True:
            parsed = await read_head(reader)
            if parsed is None:
                return
            method, target, headers = parsed
            if not counted and not target.startswith("/__"):
                STATS["connections"] += 1
                counted = True
            await serve_one(method, target, headers, reader, writer)
            if headers.get("connection", "").lower() == "close":
                return
    except (BadRequest, ValueError, asyncio.IncompleteReadError, ConnectionError):
        return
    finally:
        writer.close()


async def main_async(host: str, port: int) -> None:
    server = await asyncio.start_server(handle, host, port, limit=64 * 1024)
    bound = server.sockets[0].getsockname()
    print(f"bodies upstream listening on http://{host}:{bound[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        asyncio.run(main_async(args.host, args.port))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
