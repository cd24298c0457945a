"""`bench.py upstream`: a minimal asyncio HTTP/1.1 upstream (when nginx is not installed)."""

from __future__ import annotations

import asyncio
import re
import signal

from .workload import UPSTREAM_BODY


async def _read_request(reader: asyncio.StreamReader) -> bool:
    head = await reader.readuntil(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if m and int(m.group(1)):
        await reader.readexactly(int(m.group(1)))
    return True


def serve_upstream(port: int) -> int:
    """Answer every request on 127.0.0.1:`port` with 200 and UPSTREAM_BODY until SIGTERM."""
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (len(UPSTREAM_BODY), UPSTREAM_BODY)
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await _read_request(reader):
                writer.write(answer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=512)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with server:
            await stop.wait()

    asyncio.run(main())
    return 0
