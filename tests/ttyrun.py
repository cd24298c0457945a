"""Running a command with its stderr on a pseudo-terminal, as a person at a
terminal would see it (the progress tests need the TTY branch for real)."""

from __future__ import annotations

import os
import pty
import subprocess
import threading
from collections.abc import Sequence


def run_with_tty_stderr(argv: Sequence[str], timeout: float = 120) -> tuple[int, str, str]:
    """(exit status, stdout, what the terminal received on stderr)."""
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc = subprocess.run(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=slave,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )
    finally:
        os.close(slave)
    reader.join(10)
    os.close(master)
    return proc.returncode, proc.stdout.decode(), b"".join(chunks).decode(errors="replace")
