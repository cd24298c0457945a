"""`gateway revoke --config C (--user NAME | --session-file F | --token-file F)`:
the admin revocation (SPEC §11) against the configured store, with no gateway
running, or next to running ones (the store is shared).

Raw session ids and tokens are read from files (or stdin with `-`), never from
the command line, which `ps` shows to every user of the host.

The audit record: one audit file has one writer (SPEC §7.1), and a running
gateway holds its lock for as long as it runs. So:

* the configured `audit.path` is free (no gateway runs with this config):
  the record goes there, continuing its chain;
* a gateway holds it: nothing is revoked, and the message says to use that
  gateway's `POST /-/revoke` (which audits in its own file), or to name a
  separate audit file with `--audit-file PATH` (a chain of its own, checked
  with `gateway audit verify PATH` like any other);
* `--audit-file PATH` given: the record always goes there.

The audit file is taken before the store is touched, so a revocation is never
made without a place for its record; a record that then cannot be written
leaves the revocation standing (the safe direction) and exits 1 saying so.
"""

from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path

from gateway.admin.revoke import (
    MAX_VALUE_CHARS,
    Revoker,
    RevokeResult,
    RevokeTarget,
    check_target,
    revoke_audit_event,
)
from gateway.audit import AuditError, AuditEvent, AuditInUse, AuditLog
from gateway.config import Config
from gateway.credentials import CredentialReader, Fingerprinter
from gateway.store import StoreError, make_store


class OfflineRevokeError(Exception):
    """`gateway revoke` cannot do (all of) its job; `code` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def read_secret(source: str, kind: str) -> RevokeTarget:
    """A session id or token from a file (`-`: stdin): one line, whitespace
    around it stripped. Errors name the file, never the content."""
    try:
        raw = sys.stdin.buffer.read(MAX_VALUE_CHARS * 4 + 1) if source == "-" else None
        if raw is None:
            with open(source, "rb") as f:
                raw = f.read(MAX_VALUE_CHARS * 4 + 1)
    except OSError as exc:
        raise OfflineRevokeError(f"{source}: cannot read: {exc.strerror or exc}", 2) from None
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise OfflineRevokeError(f"{source}: not UTF-8 text", 2) from None
    if any(ch in text for ch in "\r\n"):
        raise OfflineRevokeError(f"{source}: holds more than one line (one {kind} per file)", 2)
    try:
        return check_target(kind, text)
    except ValueError as exc:
        raise OfflineRevokeError(f"{source}: {exc}", 2) from None


async def revoke_offline(
    config: Config, target: RevokeTarget, audit_file: Path | None = None
) -> RevokeResult:
    """Revoke and audit; raises OfflineRevokeError (after revoking only when the
    audit record alone failed: the message says so)."""
    if config.store.backend == "memory":
        raise OfflineRevokeError(
            "store.backend is memory: the running gateway's store cannot be reached from "
            "here; use its POST /-/revoke (admin.listen)",
            2,
        )
    audit = _open_audit(config, audit_file)
    try:
        return await _revoke(config, target, audit)
    finally:
        audit.close()


def _open_audit(config: Config, audit_file: Path | None) -> AuditLog:
    path = audit_file or config.audit.path
    audit = AuditLog(path, fsync=config.audit.fsync)
    try:
        audit.open()
    except AuditInUse as exc:
        if audit_file is not None:
            raise OfflineRevokeError(f"--audit-file: {exc}") from None
        raise OfflineRevokeError(
            f"{exc}; nothing was revoked. Use that gateway's POST /-/revoke (admin.listen), "
            "or write this record to a separate audit file with --audit-file PATH"
        ) from None
    except (AuditError, OSError) as exc:
        key = "--audit-file" if audit_file is not None else "audit.path"
        raise OfflineRevokeError(f"{key}: {exc}") from None
    return audit


async def _revoke(config: Config, target: RevokeTarget, audit: AuditLog) -> RevokeResult:
    request_id = "cli-" + secrets.token_hex(8)
    try:
        store = make_store(config.store)
    except StoreError as exc:
        raise OfflineRevokeError(f"store: {exc}") from None
    try:
        try:
            await store.open()
            fingerprint = Fingerprinter(await store.fingerprint_key(config.store.fingerprint_key))
        except StoreError as exc:
            raise OfflineRevokeError(f"cannot open the store: {exc}; nothing was revoked") from None
        reader = CredentialReader(
            frozenset(config.sessions.cookies),
            fingerprint,
            url_parameters=config.sessions.url_parameters,
        )
        revoker = Revoker(config, store, fingerprint, reader, time.time)
        try:
            result = await revoker.revoke(target)
        except StoreError as exc:
            user = target.value if target.kind == "user" else None
            failed = revoke_audit_event(
                None, status=None, client=None, request_id=request_id, user=user
            )
            _write_quietly(audit, failed)
            raise OfflineRevokeError(
                f"the store failed: {exc}; the revocation may be incomplete, run it again"
            ) from None
    finally:
        await store.close()
    try:
        audit.write_sync(
            revoke_audit_event(result, status=None, client=None, request_id=request_id)
        )
    except AuditError as exc:
        raise OfflineRevokeError(
            f"revoked ({result.invalidated} invalidated), but the audit record could not be "
            f"written: {exc}"
        ) from None
    return result


def _write_quietly(audit: AuditLog, ev: AuditEvent) -> None:
    try:
        audit.write_sync(ev)
    except AuditError:
        pass  # already failing; the error above is what the operator must see
