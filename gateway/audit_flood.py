"""Compatibility alias: flood control now lives in :mod:`gateway.audit.flood`.

Kept only so branches written before issue 12 that still import
``gateway.audit_flood`` keep working once merged; delete it when nothing
imports this path any more.
"""

from __future__ import annotations

from gateway.audit.flood import (
    MAX_CLIENTS_PER_MINUTE,
    OVERFLOW_CLIENT,
    FloodLimitedAudit,
    credential_free,
)

__all__ = ["MAX_CLIENTS_PER_MINUTE", "OVERFLOW_CLIENT", "FloodLimitedAudit", "credential_free"]
