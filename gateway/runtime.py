"""Bringing a configured gateway up and down: key, store, audit log, engine.

Both the lean launcher and the stock-mitmproxy addon use this, so the start-up
checks (corrupt database, mismatched key, unwritable audit file) are the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import time
from dataclasses import dataclass, field

from gateway.admin.revoke import Revoker
from gateway.admin.server import AdminServer
from gateway.admin.service import AdminService
from gateway.audit import AuditError, AuditLog, CountingAudit
from gateway.audit.flood import FloodLimitedAudit
from gateway.config import Config
from gateway.credentials import Fingerprinter
from gateway.engine import Gateway
from gateway.keys import load_idp_keys, load_protocol_keys
from gateway.metrics import Metrics
from gateway.oidc.keys import load_logout_token_verifier
from gateway.store import MeasuredStore, Store, StoreError, make_store
from gateway.tls import server_cert_problems

log = logging.getLogger("gateway")

PURGE_EVERY = 300.0
FLOOD_TICK = 15.0


class StartupError(Exception):
    """The gateway cannot start; the message says why, for an operator."""


@dataclass
class Runtime:
    config: Config
    gateway: Gateway
    store: Store
    audit: AuditLog
    flood: FloodLimitedAudit  # in front of `audit`; the engine writes to a counter in front of it
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _closed: bool = False
    metrics: Metrics = field(default_factory=Metrics)  # what /metrics and the status page show
    admin: AdminServer | None = None  # the admin server, when admin.listen is set

    def request_audit_reopen(self) -> None:
        """SIGHUP: reopen the audit file off the event loop (a write may hold it)."""
        task = asyncio.ensure_future(self._reopen_audit())
        self._tasks.append(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)

    async def _reopen_audit(self) -> None:
        try:
            await asyncio.to_thread(self.audit.reopen)
        except (AuditError, OSError) as exc:
            log.error("audit file could not be reopened: %s", exc)
        else:
            log.info("audit file reopened (SIGHUP): %s", self.config.audit.path)

    async def close(self) -> None:
        """Stop background work, close the store and the audit log (releasing its
        lock). Called once, by whoever started the runtime; a second call is a
        no-op rather than a double close."""
        if self._closed:
            return
        self._closed = True
        if self.admin is not None:
            try:
                await self.admin.stop()  # first: no admin request may outlive the store
            except Exception:
                log.exception("admin server: error while stopping")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.gateway.close()
        await self.store.close()
        try:
            await self.flood.close()  # the last minute's `suppressed` records
        except AuditError as exc:
            log.error("audit: could not write the suppressed-records summary: %s", exc)
        self.audit.close()


async def _tick_flood_forever(flood: FloodLimitedAudit, metrics: Metrics) -> None:
    # A minute's `suppressed` record is written soon after the minute ends,
    # even when no later record comes along to trigger it.
    while True:
        await asyncio.sleep(FLOOD_TICK)
        try:
            await flood.tick()
        except AuditError as exc:
            metrics.audit_failed(str(exc))
            log.error("audit: could not write a suppressed-records summary: %s", exc)


async def _purge_forever(store: Store) -> None:
    while True:
        await asyncio.sleep(PURGE_EVERY)
        try:
            removed = await store.purge_expired(time.time())
            if removed:
                log.info("purged %d expired entries", removed)
        except StoreError as exc:
            log.warning("purge failed: %s", exc)


async def start(config: Config, *, background: bool = True) -> Runtime:
    """Open store and audit log and build the engine. Raises StartupError with an
    operator's message; on any failure (expected or not) everything opened so
    far is closed again, so nothing half-started outlives the call."""
    tls_problems = server_cert_problems(config)
    if tls_problems:
        raise StartupError("; ".join(tls_problems))
    try:
        config.state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"state_dir: cannot create {config.state_dir}: {exc}") from exc
    metrics = Metrics()
    async with contextlib.AsyncExitStack() as undo:
        try:
            # Store calls timed for logout_gateway_store_seconds (SPEC §11; the
            # per-request lookup sampled, gateway/store/measured.py).
            store: Store = MeasuredStore(make_store(config.store), metrics)
        except StoreError as exc:
            raise StartupError(str(exc)) from exc
        undo.push_async_callback(store.close)
        try:
            await store.open()
            fingerprint = Fingerprinter(await store.fingerprint_key(config.store.fingerprint_key))
        except StoreError as exc:
            raise StartupError(str(exc)) from exc
        audit = AuditLog(config.audit.path, fsync=config.audit.fsync)
        try:
            audit.open()
        except (AuditError, OSError) as exc:
            raise StartupError(f"audit.path: {exc}") from exc
        undo.callback(audit.close)
        try:
            signer, verifier = load_protocol_keys(config)
            logout_tokens = load_logout_token_verifier(config)
            idp_certificates = load_idp_keys(config)
        except ValueError as exc:
            raise StartupError(str(exc)) from exc
        flood = FloodLimitedAudit(audit, config.audit.flood.per_client_per_minute)
        counted = CountingAudit(flood, metrics)  # logouts, revoked uses, audit failures
        gateway = Gateway(
            config,
            store,
            counted,
            fingerprint,
            signer=signer,
            jwt_verifier=verifier,
            logout_token_verifier=logout_tokens,
            idp_certificates=idp_certificates,
        )
        runtime = Runtime(config, gateway, store, audit, flood, metrics=metrics)
        if config.admin.listen_host is not None:
            runtime.admin = _start_admin(config, runtime, counted)
            undo.push_async_callback(runtime.admin.stop)
        if background:
            runtime._tasks.append(asyncio.create_task(_purge_forever(store)))
            runtime._tasks.append(asyncio.create_task(_tick_flood_forever(flood, metrics)))
        undo.pop_all()  # started: from here on the runtime's owner closes it
    return runtime


def _start_admin(config: Config, runtime: Runtime, audit: CountingAudit) -> AdminServer:
    """The admin server on `admin.listen`, serving from now on (SPEC §11)."""
    assert config.admin.listen_host is not None and config.admin.listen_port is not None
    gw = runtime.gateway
    revoker = Revoker(config, runtime.store, gw.fingerprint, gw.credentials, gw.clock)
    service = AdminService(
        config=config,
        store=runtime.store,
        audit=audit,
        audit_path=config.audit.path,
        metrics=runtime.metrics,
        revoker=revoker,
    )
    server = AdminServer(service, config.admin.listen_host, config.admin.listen_port)
    try:
        server.listen()
    except OSError as exc:
        host, port = config.admin.listen_host, config.admin.listen_port
        shown = f"[{host}]" if ":" in host else host
        why = "already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        raise StartupError(f"admin.listen: cannot listen on {shown}:{port}: {why}") from exc
    log.info("admin server listening on %s", server.url)
    return server
