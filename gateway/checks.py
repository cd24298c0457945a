"""`gateway check`: what can be verified beyond the config file's shape,
without starting the gateway (files parse, the database opens, paths are
writable). Each problem is one line naming its key."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from gateway.config import Config


def _writable_dir_for(path: Path) -> str | None:
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot create or write in {parent}"
    if path.exists() and not os.access(path, os.W_OK):
        return f"not writable: {path}"
    return None


def _check_sqlite(path: Path) -> str | None:
    """The checks `gateway run` makes when it opens the file, read-only."""
    from gateway.store import StoreCorrupt
    from gateway.store.sqlite import check_integrity, check_schema

    if not path.exists() or path.stat().st_size == 0:
        return _writable_dir_for(path)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            check_integrity(conn, str(path))
            check_schema(conn, str(path))
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return f"cannot use database {path}: {exc}"
    except StoreCorrupt as exc:
        return str(exc)
    return None


def deep_check(config: Config, warnings: list[str] | None = None) -> list[str]:
    """The problems (each makes `gateway check` exit 2); `warnings` collects what
    is worth saying but does not stop a start (one sentinel of several down)."""
    problems: list[str] = []
    if (why := _writable_dir_for(config.state_dir / "x")) is not None:
        problems.append(f"state_dir: {why}")
    if config.store.backend == "sqlite" and (why := _check_sqlite(config.store.sqlite_path)):
        problems.append(f"store.sqlite_path: {why}")
    if config.store.backend == "redis":
        from gateway.store.redis_probe import probe_redis

        found = probe_redis(config.store)
        problems += found.problems
        if warnings is not None:
            warnings += found.warnings
    if (why := _writable_dir_for(config.audit.path)) is not None:
        problems.append(f"audit.path: {why}")
    from gateway.keys import load_idp_keys, load_protocol_keys
    from gateway.tls import server_cert_problems

    problems += server_cert_problems(config)

    try:
        load_protocol_keys(config)
    except ValueError as exc:
        problems.append(str(exc))
    from gateway.oidc.keys import load_logout_token_verifier

    try:
        load_logout_token_verifier(config)
    except ValueError as exc:
        problems.append(str(exc))
    try:
        load_idp_keys(config)
    except ValueError as exc:
        problems.append(str(exc))
    return problems
