"""What /proc says about a process (CPU time, RSS), and on which CPUs it runs."""

from __future__ import annotations

import contextlib
import os
import shutil

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all its threads, live or ended)."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    rest = data[data.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def rss_mb(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def pin_process(pid: int, cpus: str | None) -> None:
    """Pin every thread of a running process (threads it starts later inherit it)."""
    if not cpus:
        return
    mask = {int(c) for c in cpus.split(",")}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(tid), mask)


def pin(cpus: str | None) -> list[str]:
    """The argv prefix that starts a command on `cpus` (none without taskset)."""
    taskset = shutil.which("taskset")
    return [taskset, "-c", cpus] if (cpus and taskset) else []
