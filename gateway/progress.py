"""Progress for long commands (`gateway replay`, `gateway audit verify|summary`
over large inputs): one self-overwriting line on stderr when it is a terminal,
nothing at all otherwise (pipes, logs, CI stay clean).

The first update is shown at once, later ones at most every `interval`
seconds, so a caller may report as often as it likes; `close()` clears the
line before the command prints its result.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

CLEAR_LINE = "\r\x1b[K"


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):  # closed or not a real file
        return False


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


class Progress:
    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        unit: str = "",  # "bytes": shown as MiB; otherwise counts, followed by `unit`
        stream: TextIO | None = None,
        interval: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = is_terminal(self.stream)
        self.interval = interval
        self.clock = clock
        self._last = float("-inf")
        self._shown = False

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if now - self._last < self.interval:
            return
        self._last = now
        self.stream.write(CLEAR_LINE + self._text(done))
        self.stream.flush()
        self._shown = True

    def _text(self, done: int) -> str:
        show = _size if self.unit == "bytes" else (lambda n: f"{n:,}")
        suffix = "" if self.unit in ("", "bytes") else f" {self.unit}"
        if self.total:
            percent = min(100, done * 100 // self.total)
            return f"{self.label}: {percent:3d}% ({show(done)} of {show(self.total)}{suffix})"
        return f"{self.label}: {show(done)}{suffix}"

    def close(self) -> None:
        if self._shown:
            self.stream.write(CLEAR_LINE)
            self.stream.flush()
            self._shown = False
