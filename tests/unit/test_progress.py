"""Issue 15: progress on a terminal for long commands, silence otherwise."""

from __future__ import annotations

import io
import re
import subprocess
import sys

from ttyrun import run_with_tty_stderr

from gateway.audit import AuditEvent, AuditLog
from gateway.progress import CLEAR_LINE, Progress

BIN = [sys.executable, "-m", "gateway"]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_on_a_terminal_is_throttled_and_cleared():
    out, clock = Tty(), Clock()
    p = Progress("verifying", 4 << 20, unit="bytes", stream=out, clock=clock)
    p.update(1 << 20)  # the first one at once
    p.update(2 << 20)  # within the interval: not drawn
    clock.now += 1
    p.update(3 << 20)
    p.close()
    assert out.getvalue() == (
        CLEAR_LINE
        + "verifying:  25% (1.0 MiB of 4.0 MiB)"
        + CLEAR_LINE
        + "verifying:  75% (3.0 MiB of 4.0 MiB)"
        + CLEAR_LINE
    )


def test_progress_counts_without_a_total():
    out = Tty()
    p = Progress("reading captures", unit="flows", stream=out, interval=0)
    p.update(1234)
    assert out.getvalue() == CLEAR_LINE + "reading captures: 1,234 flows"


def test_progress_is_silent_when_not_a_terminal():
    out = io.StringIO()
    p = Progress("verifying", 10, stream=out, interval=0)
    p.update(5)
    p.close()
    assert out.getvalue() == "" and not p.enabled


def audit_file(tmp_path, n=20_000):
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, fsync=False) as log:
        for _ in range(n):
            log.write_sync(AuditEvent("logout", "cas_logout", "manual", "success", 200))
    return path


def test_audit_verify_and_summary_show_progress_on_a_terminal(tmp_path):
    path = audit_file(tmp_path)
    code, out, tty = run_with_tty_stderr([*BIN, "audit", "verify", str(path)])
    assert code == 0 and out.startswith("ok: 20000 records in 1 file")
    # drawn at most 5 times a second: which percentages show depends on speed
    assert re.search(r"verifying: +\d+% \(\d+\.\d MiB of \d+\.\d MiB\)", tty), tty
    assert tty.startswith(CLEAR_LINE) and tty.endswith(CLEAR_LINE)
    code, out, tty = run_with_tty_stderr([*BIN, "audit", "summary", str(path)])
    assert code == 0 and out.startswith("20,000 records in 1 file")
    assert re.search(r"summarising: +\d+% \(", tty) and tty.endswith(CLEAR_LINE), tty


def test_audit_verify_and_summary_are_quiet_without_a_terminal(tmp_path):
    path = audit_file(tmp_path, 100)
    for command in ("verify", "summary"):
        result = subprocess.run(
            [*BIN, "audit", command, str(path)], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0 and result.stderr == "", command
