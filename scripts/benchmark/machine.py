"""The machine the figures were taken on (the first line of the report)."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess

from .processes import ROOT


def machine() -> dict[str, str]:
    model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        from importlib.metadata import version

        mitm = version("mitmproxy")
    except Exception:
        mitm = "?"
    mem = "?"
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        mem = f"{int(f.readline().split()[1]) / 2**20:.0f} GiB"
    commit = "?"
    with contextlib.suppress(Exception):
        commit = (
            subprocess.run(
                ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            or "?"
        )
    return {
        "commit": commit,
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "mitmproxy": mitm,
    }
