"""Hash-chained JSON Lines audit log (SPEC §7, §8): its record format, writer and verifier.

The modules, one concern each:

* ``schema``   the fields of a record and the rule of each, for writer and verifier;
* ``record``   :class:`AuditEvent` and the canonical line;
* ``writer``   :class:`AuditLog`, the durable single-process writer;
* ``sidecar``  the chain sidecar ``<path>.chain``;
* ``lockfile`` the one-writer lock ``<path>.lock``;
* ``fileio``   raw file-descriptor helpers of the writer;
* ``verifier`` :func:`verify` and its one-line :func:`summary`;
* ``flood``    flood control in front of a writer (SPEC §7.1), imported from there;
* ``counting`` counting what is audited for ``/metrics``, in front of a writer;
* ``errors``   the exceptions.

Import from here; the names below are the audit log's public API. A submodule
must not share a name with one of them (no ``verify.py``, no ``summary.py``):
loading it would rebind ``gateway.audit.<name>`` to the module.
"""

from __future__ import annotations

from gateway.audit.counting import CountingAudit
from gateway.audit.errors import AuditCorrupt, AuditError, AuditInUse
from gateway.audit.lockfile import lock_path
from gateway.audit.record import AuditEvent
from gateway.audit.schema import FIELDS, GENESIS_PREV
from gateway.audit.sidecar import chain_path
from gateway.audit.verifier import VerifyResult, summary, verify
from gateway.audit.writer import AuditLog, AuditWriter

__all__ = [
    "FIELDS",
    "GENESIS_PREV",
    "AuditCorrupt",
    "AuditError",
    "AuditEvent",
    "AuditInUse",
    "AuditLog",
    "AuditWriter",
    "CountingAudit",
    "VerifyResult",
    "chain_path",
    "lock_path",
    "summary",
    "verify",
]
