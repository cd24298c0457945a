"""Child processes that announce readiness with a line on stdout.

Shared by the scripts (record_flows, bench) and the tests (tests/procs.py), so
there is one way to start a child and wait for it.

Why the environment matters: a Python child's stdout is block-buffered when it
is a pipe, so a "listening at …" line printed without an explicit flush
(mitmdump's is one) only arrives when the buffer fills or the process exits.
Whether that happens used to depend on the caller's shell (PYTHONUNBUFFERED
set or not). `child_env` sets it for every child we start, and `Child` also
gives up early when the child exits, instead of waiting out its timeout.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment plus what a child whose output we read needs."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"  # lines arrive as printed, not at exit
    env.setdefault("LANG", "C.UTF-8")  # UTF-8 output whatever the caller's locale
    if extra:
        env.update(extra)
    return env


class Child:
    """A running child whose combined stdout/stderr is collected line by line."""

    def __init__(
        self,
        argv: list[str],
        ready: str,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.argv = argv
        self.output: list[str] = []
        self.match: re.Match[str] | None = None
        self._ready = re.compile(ready)
        self._matched = threading.Event()
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=child_env(env),
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            if self.match is None and (m := self._ready.search(line)):
                self.match = m
                self._matched.set()
        self._matched.set()  # exited (or closed its output) without the line

    def wait_ready(self, timeout: float = 30.0) -> re.Match[str]:
        """The match of the readiness line; raises RuntimeError if it never comes."""
        self._matched.wait(timeout)
        if self.match is None:
            self.stop()
            raise RuntimeError(
                f"{' '.join(self.argv[:3])} did not start (exit {self.proc.poll()}):\n{self.text}"
            )
        return self.match

    @property
    def text(self) -> str:
        return "".join(self.output)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        return self.proc.returncode
