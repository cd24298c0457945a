"""SQLite store: the default, durable on one host, shareable by processes on it.

Reads run on the event loop: a primary-key lookup in WAL mode is a few
microseconds and never waits for a writer (WAL readers see the last committed
snapshot). Writes run on one worker thread with `synchronous=FULL` (a
revocation acknowledged to a client survives power loss) and a bounded busy
timeout: a write lock held elsewhere becomes a StoreError (→ 503), not a hang.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from gateway.store.base import (
    IndexEntry,
    LogoutRequestRecord,
    Revocation,
    SessionRecord,
    Store,
    StoreCorrupt,
    StoreError,
    TokenRecord,
)

T = TypeVar("T")

OPEN_LOCK_TIMEOUT = 15.0  # seconds start-up waits for the write lock

# 2: claims (one-time IDs) and credential_index (credentials per user/realm/SSO
# session). A version-1 file is upgraded in place (the new tables are created);
# an older gateway refuses a version-2 file rather than miss the index.
SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS revocations (
    fp BLOB PRIMARY KEY, kind TEXT NOT NULL, expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS revocations_expiry ON revocations(expires_at);
CREATE TABLE IF NOT EXISTS sessions (
    fp BLOB PRIMARY KEY, created REAL NOT NULL, last_seen REAL NOT NULL,
    expires_at REAL NOT NULL, user TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions(expires_at);
CREATE TABLE IF NOT EXISTS tickets (
    fp BLOB PRIMARY KEY, session_fp BLOB NOT NULL, expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tickets_expiry ON tickets(expires_at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    fp BLOB PRIMARY KEY, record TEXT NOT NULL, expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tokens_expiry ON tokens(expires_at);
CREATE TABLE IF NOT EXISTS logout_requests (
    id TEXT PRIMARY KEY, session_id TEXT NOT NULL, expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS claims (
    scope TEXT NOT NULL, key TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS claims_expiry ON claims(expires_at);
CREATE TABLE IF NOT EXISTS credential_index (
    key TEXT NOT NULL, fp BLOB NOT NULL, kind TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (key, fp)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS credential_index_expiry ON credential_index(expires_at);
"""
_TABLES = {"revocations", "sessions", "tickets", "meta"}
_INSERT_LOGOUT_REQUEST = (
    "INSERT OR REPLACE INTO logout_requests(id, session_id, expires_at) VALUES (?, ?, ?)"
)


def check_integrity(conn: sqlite3.Connection, name: str) -> None:
    """StoreCorrupt unless SQLite's own check finds the file sound."""
    rows = conn.execute("PRAGMA quick_check").fetchall()
    if rows != [("ok",)]:
        detail = "; ".join(str(r[0]) for r in rows[:3])
        raise StoreCorrupt(f"{name}: database is corrupt ({detail})")


def check_schema(conn: sqlite3.Connection, name: str) -> None:
    """StoreCorrupt unless the file is empty or a gateway database this version reads."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if tables and not _TABLES <= tables:
        raise StoreCorrupt(f"{name}: not a gateway database (tables: {sorted(tables)})")
    if version > SCHEMA_VERSION:
        raise StoreCorrupt(f"{name}: written by a newer gateway (schema {version})")


def _b(fp: str) -> bytes:
    return bytes.fromhex(fp)


def _hex(value: object) -> str:
    if not isinstance(value, bytes):
        raise StoreError(f"unexpected fingerprint value in database: {type(value).__name__}")
    return value.hex()


def _float(value: object) -> float:
    if not isinstance(value, int | float):
        raise StoreError(f"unexpected time value in database: {type(value).__name__}")
    return float(value)


class SQLiteStore(Store):
    def __init__(self, path: Path, *, write_timeout: float = 2.0) -> None:
        self.path = path
        self.name = f"sqlite store {path}"
        self._write_timeout = write_timeout
        self._reader: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._select_sql: dict[int, str] = {}

    # -- lifecycle -----------------------------------------------------------

    async def open(self) -> None:
        # Opening checks the whole file (quick_check), so keep it off the loop too.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        try:
            await self._in_thread(self._open_sync)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    def _open_sync(self) -> None:
        path = self.path
        new = not path.exists() or (path.is_file() and path.stat().st_size == 0)
        if path.exists() and not stat.S_ISREG(path.stat().st_mode):
            raise StoreCorrupt(f"{self.name}: not a regular file")
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            raise StoreCorrupt(f"{self.name}: not readable and writable by this user")
        if new:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        try:
            # mode=rw: never let sqlite create a fresh empty database in place of
            # one that vanished between our check and the connect.
            uri = f"file:{path}?mode=rw"
            writer = sqlite3.connect(
                uri,
                uri=True,
                isolation_level=None,
                check_same_thread=False,
                # Start-up may wait longer for the write lock than a request
                # may (other gateways on this file are busy writing); set back
                # to the bounded request-time timeout once the schema is ready.
                timeout=OPEN_LOCK_TIMEOUT,
            )
            if not new:
                # Outside any transaction: a long check must not hold the write
                # lock that other gateways on this file need.
                check_integrity(writer, self.name)
            writer.execute("PRAGMA journal_mode=WAL")
            writer.execute("PRAGMA synchronous=FULL")
            # Schema check and creation in one write transaction, so a gateway
            # starting next to another never sees a half-created schema.
            writer.execute("BEGIN IMMEDIATE")
            try:
                check_schema(writer, self.name)
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        writer.execute(statement)
                writer.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                writer.execute("COMMIT")
            except BaseException:
                writer.execute("ROLLBACK")
                raise
            writer.execute(f"PRAGMA busy_timeout={int(self._write_timeout * 1000)}")
            reader = sqlite3.connect(
                uri, uri=True, isolation_level=None, check_same_thread=False, timeout=0.2
            )
            reader.execute("PRAGMA query_only=ON")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                # Not corruption: another process held the write lock too long.
                raise StoreError(
                    f"{self.name}: database is locked by another process "
                    f"(waited {OPEN_LOCK_TIMEOUT:.0f} s at start-up)"
                ) from exc
            raise StoreCorrupt(f"{self.name}: cannot use database: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise StoreCorrupt(f"{self.name}: cannot use database: {exc}") from exc
        self._writer = writer
        self._reader = reader

    async def close(self) -> None:
        if self._executor is None:
            return
        writer, self._writer = self._writer, None
        reader, self._reader = self._reader, None
        if writer is not None:
            await self._in_thread(writer.close)
        if reader is not None:
            reader.close()
        self._executor.shutdown(wait=True)
        self._executor = None

    # -- plumbing ------------------------------------------------------------

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise StoreError(f"{self.name}: not open")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.name}: {exc}") from exc

    def _write(
        self, sql: str, params: Sequence[Sequence[object]], *more: tuple[str, Sequence[object]]
    ) -> None:
        """One write transaction: `sql` for every row of params, then `more`."""
        w = self._writer
        if w is None:
            raise StoreError(f"{self.name}: not open")
        w.execute("BEGIN IMMEDIATE")
        try:
            w.executemany(sql, params)
            for extra_sql, extra_params in more:
                w.execute(extra_sql, extra_params)
            w.execute("COMMIT")
        except BaseException:
            w.execute("ROLLBACK")
            raise

    def _read(self, sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        r = self._reader
        if r is None:
            raise StoreError(f"{self.name}: not open")
        try:
            return r.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.name}: {exc}") from exc

    # -- the interface -------------------------------------------------------

    async def revoked(self, fingerprints: Sequence[str], now: float) -> frozenset[str]:
        n = len(fingerprints)
        if n == 0:
            return frozenset()
        sql = self._select_sql.get(n)
        if sql is None:
            # Point lookups joined by UNION ALL: for the few fingerprints a
            # request carries this is half the cost of `fp IN (…)`, for which
            # SQLite builds a temporary index. Only placeholders are interpolated.
            one = "SELECT fp FROM revocations WHERE fp = ? AND expires_at > ?"
            sql = " UNION ALL ".join([one] * n)
            self._select_sql[n] = sql
        params: list[object] = []
        for fp in fingerprints:
            params += (_b(fp), now)
        rows = self._read(sql, params)
        return frozenset(_hex(r[0]) for r in rows)

    async def revoke(
        self,
        revocations: Sequence[Revocation],
        *,
        logout_request: LogoutRequestRecord | None = None,
    ) -> None:
        params = [(_b(r.fingerprint), r.kind, r.expires_at) for r in revocations]
        more: list[tuple[str, Sequence[object]]] = []
        if logout_request is not None:
            lr = logout_request
            more.append((_INSERT_LOGOUT_REQUEST, (lr.request_id, lr.session_id, lr.expires_at)))
        if not params and not more:
            return
        await self._in_thread(
            lambda: self._write(
                "INSERT INTO revocations(fp, kind, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT(fp) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)",
                params,
                *more,
            )
        )

    async def record_session(self, session: SessionRecord) -> None:
        params = [
            (
                _b(session.fingerprint),
                session.created,
                session.last_seen,
                session.expires_at,
                session.user,
            )
        ]
        await self._in_thread(
            lambda: self._write(
                "INSERT INTO sessions(fp, created, last_seen, expires_at, user) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(fp) DO UPDATE SET "
                "last_seen = max(last_seen, excluded.last_seen), "
                "expires_at = max(expires_at, excluded.expires_at), "
                "user = coalesce(excluded.user, user)",
                params,
            )
        )

    async def get_session(self, fingerprint: str, now: float) -> SessionRecord | None:
        rows = self._read(
            "SELECT created, last_seen, expires_at, user FROM sessions "
            "WHERE fp = ? AND expires_at > ?",
            [_b(fingerprint), now],
        )
        if not rows:
            return None
        created, last_seen, expires_at, user = rows[0]
        return SessionRecord(
            fingerprint,
            _float(created),
            _float(last_seen),
            _float(expires_at),
            user if isinstance(user, str) else None,
        )

    async def touch_session(self, fingerprint: str, now: float) -> None:
        await self._in_thread(
            lambda: self._write(
                "UPDATE sessions SET last_seen = max(last_seen, ?) WHERE fp = ?",
                [(now, _b(fingerprint))],
            )
        )

    async def record_ticket(self, ticket_fp: str, session_fp: str, expires_at: float) -> None:
        await self._in_thread(
            lambda: self._write(
                "INSERT OR REPLACE INTO tickets(fp, session_fp, expires_at) VALUES (?, ?, ?)",
                [(_b(ticket_fp), _b(session_fp), expires_at)],
            )
        )

    async def session_for_ticket(self, ticket_fp: str, now: float) -> str | None:
        rows = self._read(
            "SELECT session_fp FROM tickets WHERE fp = ? AND expires_at > ?",
            [_b(ticket_fp), now],
        )
        return _hex(rows[0][0]) if rows else None

    async def purge_expired(self, now: float) -> int:
        def purge() -> int:
            w = self._writer
            if w is None:
                raise StoreError(f"{self.name}: not open")
            removed = 0
            w.execute("BEGIN IMMEDIATE")
            try:
                for table in (
                    "revocations",
                    "sessions",
                    "tickets",
                    "tokens",
                    "logout_requests",
                    "claims",
                    "credential_index",
                ):
                    cur = w.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (now,))  # noqa: S608
                    removed += cur.rowcount
                w.execute("COMMIT")
            except BaseException:
                w.execute("ROLLBACK")
                raise
            return removed

        return await self._in_thread(purge)

    async def record_tokens(self, record: TokenRecord) -> None:
        text = record.to_json()
        params = [
            (_b(fp), text, record.expires_at) for fp in (record.access_fp, record.refresh_fp) if fp
        ]
        if params:
            await self._in_thread(
                lambda: self._write(
                    "INSERT OR REPLACE INTO tokens(fp, record, expires_at) VALUES (?, ?, ?)", params
                )
            )

    async def get_token(self, fingerprint: str, now: float) -> TokenRecord | None:
        rows = self._read(
            "SELECT record FROM tokens WHERE fp = ? AND expires_at > ?", [_b(fingerprint), now]
        )
        if not rows:
            return None
        text = rows[0][0]
        if not isinstance(text, str):
            raise StoreError(f"{self.name}: unexpected token record type")
        try:
            return TokenRecord.from_json(text)
        except (ValueError, TypeError) as exc:
            raise StoreError(f"{self.name}: unreadable token record: {exc}") from exc

    async def record_logout_request(
        self, request_id: str, session_id: str, expires_at: float
    ) -> None:
        await self._in_thread(
            lambda: self._write(
                _INSERT_LOGOUT_REQUEST,
                [(request_id, session_id, expires_at)],
            )
        )

    async def logout_request(self, request_id: str, now: float) -> str | None:
        rows = self._read(
            "SELECT session_id FROM logout_requests WHERE id = ? AND expires_at > ?",
            [request_id, now],
        )
        return str(rows[0][0]) if rows else None

    async def is_claimed(self, scope: str, key: str, now: float) -> bool:
        rows = self._read(
            "SELECT 1 FROM claims WHERE scope = ? AND key = ? AND expires_at > ?",
            [scope, key, now],
        )
        return bool(rows)

    async def claim_once(self, scope: str, key: str, expires_at: float, now: float) -> bool:
        def claim() -> bool:
            w = self._writer
            if w is None:
                raise StoreError(f"{self.name}: not open")
            w.execute("BEGIN IMMEDIATE")  # the write lock makes check-and-set atomic
            try:
                cur = w.execute(
                    "INSERT INTO claims(scope, key, expires_at) VALUES (?, ?, ?) "
                    "ON CONFLICT(scope, key) DO UPDATE SET expires_at = excluded.expires_at "
                    "WHERE claims.expires_at <= ?",
                    (scope, key, expires_at, now),
                )
                won = cur.rowcount == 1
                w.execute("COMMIT")
            except BaseException:
                w.execute("ROLLBACK")
                raise
            return won

        return await self._in_thread(claim)

    async def index_credentials(self, keys: Sequence[str], entries: Sequence[IndexEntry]) -> None:
        params = [(k, _b(e.fingerprint), e.kind, e.expires_at) for k in keys for e in entries]
        if params:
            await self._in_thread(
                lambda: self._write(
                    "INSERT INTO credential_index(key, fp, kind, expires_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(key, fp) DO UPDATE SET "
                    "expires_at = max(expires_at, excluded.expires_at)",
                    params,
                )
            )

    async def indexed_credentials(self, key: str, now: float) -> list[IndexEntry]:
        rows = self._read(
            "SELECT fp, kind, expires_at FROM credential_index "
            "WHERE key = ? AND expires_at > ? ORDER BY kind, fp",
            [key, now],
        )
        return [IndexEntry(_hex(fp), str(kind), _float(exp)) for fp, kind, exp in rows]

    async def count_revoked(self, now: float) -> int:
        def count() -> int:
            # On the writer's thread and connection: a count over a million rows
            # takes tens of milliseconds, which must not run on the event loop
            # (the reader connection is used there). A read in WAL mode takes
            # no write lock; queued writes wait for it at most that long.
            w = self._writer
            if w is None:
                raise StoreError(f"{self.name}: not open")
            row = w.execute(
                "SELECT count(*) FROM revocations WHERE expires_at > ?", (now,)
            ).fetchone()
            return int(row[0])

        return await self._in_thread(count)

    async def claim_meta(self, key: str, value: str) -> str:
        def claim() -> str:
            w = self._writer
            if w is None:
                raise StoreError(f"{self.name}: not open")
            w.execute("BEGIN IMMEDIATE")
            try:
                w.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, value))
                row = w.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
                w.execute("COMMIT")
            except BaseException:
                w.execute("ROLLBACK")
                raise
            return str(row[0])

        return await self._in_thread(claim)
