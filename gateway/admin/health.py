"""Readiness (SPEC §11 `GET /-/ready`): can this gateway do its job right now?

Two things a logout needs: the store answers (a cheap read, bounded in time)
and the audit file can be written (the last write did not fail, the file and
its folder are writable, the disk is not full). Each problem is one line for
the operator; an empty list means ready.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable
from pathlib import Path

from gateway.metrics import Metrics
from gateway.store import Store, StoreError

PROBE_FINGERPRINT = "0" * 32  # never a real fingerprint: the read finds nothing
STORE_TIMEOUT = 2.0
MIN_FREE_BYTES = 1 << 20  # below this the next fsynced record may not fit


async def store_problems(store: Store, clock: Callable[[], float]) -> list[str]:
    try:
        async with asyncio.timeout(STORE_TIMEOUT):
            await store.revoked([PROBE_FINGERPRINT], clock())
    except TimeoutError:
        return [f"store: no answer within {STORE_TIMEOUT:g} s"]
    except StoreError as exc:
        return [f"store: {exc}"]
    return []


def audit_problems(path: Path, metrics: Metrics) -> list[str]:
    problems = []
    if metrics.audit_problem is not None:
        problems.append(f"audit: the last write failed: {metrics.audit_problem}")
    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None  # rotated away: the next write creates it
    except OSError as exc:
        return [*problems, f"audit: cannot stat {path}: {exc.strerror}"]
    if st is not None and not stat.S_ISREG(st.st_mode):
        return problems  # a device (tests write to /dev/full): nothing more to check
    if st is not None and not os.access(path, os.W_OK):
        problems.append(f"audit: {path} is not writable")
    folder = path.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        problems.append(f"audit: cannot create files in {folder} (rotation would fail)")
    try:
        fs = os.statvfs(folder)
    except OSError as exc:
        problems.append(f"audit: cannot stat the file system of {folder}: {exc.strerror}")
    else:
        free = fs.f_bavail * fs.f_frsize
        if free < MIN_FREE_BYTES:
            problems.append(f"audit: only {free // 1024} KiB free on the file system of {folder}")
    return problems


async def readiness_problems(
    store: Store, audit_path: Path, metrics: Metrics, clock: Callable[[], float]
) -> list[str]:
    problems = await store_problems(store, clock)
    # os calls on a local path: microseconds, but keep them off the loop anyway
    # (an NFS-mounted state_dir can hang).
    return problems + await asyncio.to_thread(audit_problems, audit_path, metrics)
