"""The status snapshot behind `GET /` and `GET /-/status.json` (SPEC §11): live
counts since this process started, the store's live revocations, logouts per
hour by reason and the last audit records (from the audit file, so also from
before a restart)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.admin.audit_tail import AuditFollower
from gateway.config import Config
from gateway.metrics import Metrics


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def snapshot(
    config: Config, metrics: Metrics, follower: AuditFollower, now: float
) -> dict[str, Any]:
    logouts = [
        {"route": route, "reason": reason, "outcome": outcome, "count": n}
        for (route, reason, outcome), n in sorted(metrics.logouts.items())
    ]
    return {
        "generated": iso(now),
        "started": iso(metrics.started),
        "uptime_seconds": int(now - metrics.started),
        "listen": f"{config.listen_host}:{config.listen_port}",
        "store": config.store.backend,
        "requests": metrics.decisions(),
        "logouts": logouts,
        "logouts_total": sum(row["count"] for row in logouts),
        "revoked_uses": metrics.revoked_uses,
        "audit_failures": metrics.audit_failures,
        "live_revocations": metrics.live_revocations,
        "logouts_per_hour": follower.logouts_per_hour(now),
        "recent": follower.recent(),
    }
