"""What the metrics (issue 15, SPEC §11) cost a proxied request.

Two things run on every request once metrics exist: the request hook counts
its decision (`Metrics.count_decision`, a plain increment) and the store
lookup is timed for `logout_gateway_store_seconds` (`MeasuredStore.revoked`:
two perf_counter() calls and a bisect). Measured here as mitmproxy calls the
hook (`LogoutGateway.request` on a flow, passthrough, SQLite with 10
revocations), with both and without both, in interleaved batches so a noisy
neighbour hits both alike; and each piece alone. The report puts the
difference next to (c)'s CPU per request under load.

Imports `gateway` (like in_process): only inside the function.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from .configs import gateway_config
from .in_process import open_sqlite, passthrough_hook_call
from .stats import median
from .timing import timed_paired


async def metrics_cost(tmp: Path, quick: bool) -> dict[str, Any]:

    from gateway.audit import AuditLog, CountingAudit
    from gateway.audit.flood import FloodLimitedAudit
    from gateway.config import parse_config
    from gateway.engine import Gateway
    from gateway.http import FORWARD
    from gateway.metrics import Metrics
    from gateway.mitm import LogoutGateway
    from gateway.runtime import Runtime
    from gateway.store import MeasuredStore, Revocation

    class NoMetrics(Metrics):
        def count_decision(self, decision: Any) -> None:
            return None

    d = tmp / "metrics-cost"
    d.mkdir()
    n, batches = (500, 5) if quick else (2000, 11)
    store, fingerprint = await open_sqlite(d / "gw.db")
    now = time.time()
    await store.revoke(
        [Revocation(secrets.token_hex(16), "session", now + 86400) for _ in range(10)]
    )
    cfg = parse_config(
        gateway_config(
            d,
            "state",
            0,
            9,
            {"backend": "sqlite", "sqlite_path": str(d / "gw.db")},
            None,
            None,
            False,
        ),
        d,
    )
    audit = AuditLog(d / "audit.jsonl", fsync=False)
    audit.open()
    flood = FloodLimitedAudit(audit, 60)

    def hook(metrics: Metrics, measured: bool) -> Any:
        the_store = MeasuredStore(store, metrics) if measured else store
        gateway = Gateway(cfg, the_store, CountingAudit(flood, metrics), fingerprint)
        addon = LogoutGateway(Runtime(cfg, gateway, the_store, audit, flood, metrics=metrics))
        return passthrough_hook_call(addon)

    on_metrics = Metrics()
    paired = await timed_paired(
        {"off": hook(NoMetrics(), measured=False), "on": hook(on_metrics, measured=True)},
        n,
        batches,
    )
    assert on_metrics.forwarded > 0 and on_metrics.store["revoked"].count > 0

    # the pieces alone
    plain, measured = store, MeasuredStore(store, Metrics())
    fps = [fingerprint("session", "x" * 32), fingerprint("token", "y" * 32)]
    lookups = await timed_paired(
        {"plain": lambda: plain.revoked(fps, now), "timed": lambda: measured.revoked(fps, now)},
        n,
        batches,
    )
    counter = Metrics()
    loops = 200_000
    t0 = time.perf_counter_ns()
    for _ in range(loops):
        counter.count_decision(FORWARD)
    count_ns = (time.perf_counter_ns() - t0) / loops

    await store.close()
    audit.close()
    deltas = [b - a for a, b in zip(paired["off"]["per"], paired["on"]["per"], strict=True)]
    ratios = [b / a for a, b in zip(paired["off"]["per"], paired["on"]["per"], strict=True)]
    store_deltas = [
        b - a for a, b in zip(lookups["plain"]["per"], lookups["timed"]["per"], strict=True)
    ]
    return {
        "hook_off_us": paired["off"]["us"],
        "hook_on_us": paired["on"]["us"],
        "delta_us": median(deltas),
        "ratio": median(ratios),
        "count_decision_ns": count_ns,
        "store_timing_ns": median(store_deltas) * 1000,
    }
