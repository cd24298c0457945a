"""Everything that runs the gateway's own code inside a bench process: the lean
master (proxy (b)), the memory-store RSS child, seeding the proxies' stores,
and the in-process figures (hooks, Redis, logouts, signatures).

The only module of the bench that imports `gateway`. The imports stay inside
the functions: each child imports only what it runs, so (b)'s RSS remains a
baseline without the gateway's modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from children import child_env

from .configs import gateway_config
from .processes import bench_subcommand
from .procfs import rss_mb
from .seeding import bulk_revocations, bulk_tokens
from .stats import median
from .timing import redis_rtt, timed, timed_each, timed_paired
from .workload import (
    FP_KEY,
    PASS_BEARER,
    PASS_COOKIE,
    PASS_PATH,
    SESSION_COOKIE,
    browser_headers,
    saml_token,
)

# ---------------------------------------------------------------------------
# `bench.py lean`: proxy (b), built like gateway/launcher.py minus the gateway


def serve_lean_master(upstream: str, port: int, confdir: str, baseline: bool = False) -> int:
    """(b): exactly gateway run's master (its trims and event loop), without the
    gateway. (b0) with `baseline`: the lean master as it was when issue 16
    started (asyncio's loop, mitmproxy's own hook dispatch and debug checks),
    the yardstick of that issue's CPU target."""
    from mitmproxy import options

    from gateway.launcher import lean_master, quiet_logging
    from gateway.lean_master import event_loop_factory, trim_debug_checks

    quiet_logging()
    if not baseline:
        trim_debug_checks()

    async def serve() -> None:
        opts = options.Options()
        m = lean_master(opts, trimmed=not baseline)
        opts.update(
            mode=[f"reverse:{upstream}@127.0.0.1:{port}"],
            connection_strategy="lazy",
            confdir=confdir,
            ssl_insecure=False,
            upstream_cert=False,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, m.shutdown)
        await m.run()

    with asyncio.Runner(loop_factory=None if baseline else event_loop_factory()) as runner:
        runner.run(serve())
    return 0


# ---------------------------------------------------------------------------
# `bench.py memrss`


def memory_store_growth_mb(n: int) -> float:
    """RSS growth of a MemoryStore holding `n` revocations (run in a fresh process)."""
    from gateway.store import Revocation
    from gateway.store.memory import MemoryStore

    async def fill() -> float:
        store = MemoryStore()
        now = time.time()
        before = rss_mb()
        for base in range(0, n, 10_000):
            await store.revoke(
                [
                    Revocation(secrets.token_hex(16), "session", now + 86400)
                    for _ in range(min(10_000, n - base))
                ]
            )
        return rss_mb() - before

    return asyncio.run(fill())


# ---------------------------------------------------------------------------
# Seeding the stores through the gateway's own code (fingerprints, records)


def token_records(
    fingerprint: Any, prefix: str, start: int, count: int, now: float
) -> Iterator[Any]:
    from gateway.credentials import TOKEN
    from gateway.store import TokenRecord

    for i in range(start, start + count):
        yield TokenRecord(
            access_fp=fingerprint(TOKEN, saml_token(prefix, i)),
            refresh_fp=None,
            session_id=f"{prefix}s{i}",
            expires_at=now + 86400,
            username=f"user{i}",
            realm="saml1",
            name_id=f"user{i}@example.com",
            name_id_format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            session_index=f"_idx{i}",
        )


async def open_sqlite(path: Path) -> tuple[Any, Any]:
    """A SQLiteStore created with the bench's fingerprint key, and its Fingerprinter."""
    from gateway.credentials import Fingerprinter
    from gateway.store.sqlite import SQLiteStore

    store = SQLiteStore(path)
    await store.open()
    key = await store.fingerprint_key(FP_KEY)
    return store, Fingerprinter(key)


async def seed_sqlite(db: Path, revocations: int, saml: list[tuple[str, int]]) -> None:
    store, fingerprint = await open_sqlite(db)
    await store.close()
    now = time.time()
    bulk_revocations(db, revocations, now)
    for prefix, count in saml:
        bulk_tokens(db, token_records(fingerprint, prefix, 0, count, now))


async def seed_redis(url: str, revocations: int) -> None:
    from gateway.store import Revocation
    from gateway.store.redis import RedisStore

    store = RedisStore(url)
    await store.open()
    await store.fingerprint_key(FP_KEY)
    now = time.time()
    for base in range(0, revocations, 1000):
        n = min(1000, revocations - base)
        await store.revoke(
            [Revocation(secrets.token_hex(16), "session", now + 86400) for _ in range(n)]
        )
    await store.close()


# ---------------------------------------------------------------------------
# In-process figures


def passthrough_hook_call(addon: Any) -> Callable[[], Awaitable[None]]:
    """One call of the addon's `request` hook on the same passthrough flow (a
    browser's cookies + bearer, not revoked), as mitmproxy calls it."""
    from mitmproxy import http as mhttp
    from mitmproxy.test import tflow

    from gateway.mitm import HANDLED

    flow = tflow.tflow(
        req=mhttp.Request.make(
            "GET",
            f"http://manager.cluster.example:28443{PASS_PATH}",
            headers=mhttp.Headers(
                [(k.encode(), v.encode()) for k, v in browser_headers(PASS_COOKIE, PASS_BEARER)]
            ),
        )
    )

    async def call() -> None:
        flow.metadata.pop(HANDLED, None)
        await addon.request(flow)
        assert flow.response is None

    return call


async def in_process_figures(
    tmp: Path, keys: dict[str, Path], n_big: int, quick: bool, redis_url: str | None
) -> dict[str, Any]:
    """Per-call figures of the gateway's code in this process: the request hook
    on 10 and `n_big` revocations, the memory and Redis stores, the logouts."""

    from gateway.audit import AuditLog
    from gateway.audit.flood import FloodLimitedAudit
    from gateway.config import parse_config
    from gateway.credentials import Fingerprinter
    from gateway.engine import Gateway
    from gateway.http import Forward, Request, Respond
    from gateway.mitm import LogoutGateway
    from gateway.runtime import Runtime
    from gateway.saml.redirect_binding import Signer
    from gateway.store import Revocation
    from gateway.store.memory import MemoryStore

    out: dict[str, Any] = {}
    d = tmp / "inproc"
    d.mkdir()
    n, batches = (500, 5) if quick else (2000, 11)
    now = time.time()
    # Two databases, measured in interleaved batches: 10 revocations, n_big.
    db10, db = d / "gw10.db", d / "gateway.db"
    store10, fingerprint = await open_sqlite(db10)
    await store10.revoke(
        [Revocation(secrets.token_hex(16), "session", now + 86400) for _ in range(10)]
    )
    store, _ = await open_sqlite(db)
    await store.close()
    out["bulk_insert_s"] = bulk_revocations(db, n_big, now)
    out["revocations_big"] = n_big
    out["db_bytes_big"] = db.stat().st_size
    store, _ = await open_sqlite(db)

    def config(
        alg: str | None = None,
        key: str | None = None,
        fsync: bool = False,
        backend: dict[str, Any] | None = None,
    ) -> Any:
        data = gateway_config(
            d,
            "state",
            0,
            9,
            backend or {"backend": "sqlite", "sqlite_path": str(db)},
            alg,
            keys[key] if key else None,
            fsync,
        )
        return parse_config(data, d)

    audit_off = AuditLog(d / "audit-nofsync.jsonl", fsync=False)
    audit_off.open()
    audit_on = AuditLog(d / "audit-fsync.jsonl", fsync=True)
    audit_on.open()
    cfg = config("rsa-sha256", "rsa2048")
    signer = Signer.from_pem_file(keys["rsa2048"], "rsa-sha256")
    gw10 = Gateway(cfg, store10, audit_off, fingerprint, signer=signer)
    gw = Gateway(cfg, store, audit_off, fingerprint, signer=signer)

    pass_req = Request(
        "GET", PASS_PATH, "", browser_headers(PASS_COOKIE, PASS_BEARER), None, "127.0.0.1", "bench"
    )
    for g in (gw10, gw):
        decision = await g.handle_request(pass_req)
        assert isinstance(decision, Forward) and decision.route is None, decision

    # the mitmproxy-level hook, on a flow
    def mitm_hook(g: Any, s: Any) -> Callable[[], Awaitable[None]]:
        addon = LogoutGateway(Runtime(cfg, g, s, audit_off, FloodLimitedAudit(audit_off, 60)))
        return passthrough_hook_call(addon)

    def distinct_reqs(tag: str, count: int) -> list[Request]:
        return [
            Request(
                "GET",
                PASS_PATH,
                "",
                browser_headers(
                    f"lang=en-US; {SESSION_COOKIE}={tag}{i:08d}ABCDEF0123456789; theme=dark",
                    f"{tag}-opaque-token-{i:08d}-abcdefghijklmnop",
                ),
                None,
                "127.0.0.1",
                "bench",
            )
            for i in range(count)
        ]

    def cycler(g: Any, reqs: list[Request]) -> Callable[[], Awaitable[Any]]:
        it = iter(range(1 << 62))

        def call() -> Awaitable[Any]:
            return g.handle_request(reqs[next(it) % len(reqs)])

        return call

    # Memory store: the pure-Python floor.
    mem = MemoryStore()
    gw_mem = Gateway(config(backend={"backend": "memory"}), mem, audit_off, fingerprint)

    paired = await timed_paired(
        {
            "hook_sqlite_10": lambda: gw10.handle_request(pass_req),
            "hook_sqlite_big": lambda: gw.handle_request(pass_req),
            "mitm_hook_sqlite_10": mitm_hook(gw10, store10),
            "mitm_hook_sqlite_big": mitm_hook(gw, store),
            "hook_sqlite_10_distinct": cycler(gw10, distinct_reqs("A", 20_000)),
            "hook_sqlite_big_distinct": cycler(gw, distinct_reqs("B", 20_000)),
            "hook_memory_0": lambda: gw_mem.handle_request(pass_req),
        },
        n,
        batches,
    )
    out.update(paired)
    out["ratio_big_10"] = median(
        [
            b / a
            for a, b in zip(
                paired["hook_sqlite_10"]["per"], paired["hook_sqlite_big"]["per"], strict=True
            )
        ]
    )
    out["ratio_big_10_mitm"] = median(
        [
            b / a
            for a, b in zip(
                paired["mitm_hook_sqlite_10"]["per"],
                paired["mitm_hook_sqlite_big"]["per"],
                strict=True,
            )
        ]
    )
    await store10.close()

    # a revoked credential among n_big: the refusal path (401, audit without fsync)
    revoked_cookie = "lang=en-US; JSESSIONID=REVOKED0123456789; theme=dark"
    await store.revoke(
        [Revocation(fingerprint("session", "REVOKED0123456789"), "session", now + 86400)]
    )
    rev_req = Request(
        "GET",
        PASS_PATH,
        "",
        browser_headers(revoked_cookie, PASS_BEARER),
        None,
        "127.0.0.1",
        "bench",
    )
    assert isinstance(await gw.handle_request(rev_req), Respond)
    out["hook_sqlite_big_revoked"] = await timed(lambda: gw.handle_request(rev_req), n // 4, 5)

    # What n_big revocations cost a memory store, in a fresh process.
    memrss = subprocess.run(
        bench_subcommand("memrss", "--n", str(n_big)),
        capture_output=True,
        text=True,
        check=False,
        env=child_env(),  # like every child of ours (scripts/children.py)
    )
    with contextlib.suppress(ValueError):
        out["memory_store_big_rss_mb"] = float(memrss.stdout.strip().splitlines()[-1])

    # Redis, in-process: the round trip on an idle loop, 10k → n_big keys.
    if redis_url is not None:
        from gateway.store.redis import RedisStore

        rstore = RedisStore(redis_url)
        await rstore.open()
        rkey = Fingerprinter(await rstore.fingerprint_key(FP_KEY))
        gw_r = Gateway(
            config(backend={"backend": "redis", "redis_url": redis_url}), rstore, audit_off, rkey
        )
        out["redis_rtt_raw"] = await redis_rtt(redis_url, n // 2, batches)
        out["hook_redis_seeded"] = await timed(
            lambda: gw_r.handle_request(pass_req), n // 2, batches
        )
        from redis.asyncio import Redis

        bulk = Redis.from_url(redis_url)  # no short timeouts: the bulk load takes seconds
        info0 = await bulk.info("memory")
        keys0 = await bulk.dbsize()
        t0 = time.perf_counter()
        # server-side, in chunks: n_big random revocation keys with a TTL
        lua = (
            "local exp = tonumber(ARGV[2]) "
            "for i = 1, tonumber(ARGV[1]) do "
            "redis.call('SET', 'lg:rev:' .. ARGV[3] .. string.format('%026x', i), ARGV[2], 'PXAT', exp) end return 1"
        )
        exp_ms = int((now + 86400) * 1000)
        for c in range(0, n_big, 200_000):
            await bulk.eval(lua, 0, min(200_000, n_big - c), exp_ms, f"{c:06x}")
        out["redis_bulk_s"] = time.perf_counter() - t0
        info1 = await bulk.info("memory")
        out["redis_keys_big"] = await bulk.dbsize() - keys0
        out["redis_used_memory_mb_big"] = (info1["used_memory"] - info0["used_memory"]) / 2**20
        out["hook_redis_big"] = await timed(lambda: gw_r.handle_request(pass_req), n // 2, batches)
        await bulk.flushdb()
        await bulk.aclose()
        await rstore.close()

    # Logouts. Every call a fresh session (and bearer), so every one revokes.
    def cas_calls(tag: str, gateway: Any, count: int) -> list[Callable[[], Awaitable[Any]]]:
        def make(i: int) -> Callable[[], Awaitable[Any]]:
            r = Request(
                "POST",
                "/cas/logout",
                "",
                (
                    *browser_headers(
                        f"lang=en-US; JSESSIONID={tag}-{i}; theme=dark", f"tok-{tag}-{i}"
                    ),
                    ("content-length", "0"),
                ),
                b"",
                "127.0.0.1",
                "bench",
            )
            return lambda: gateway.handle_request(r)

        return [make(i) for i in range(count)]

    count = 60 if quick else 300
    check = await cas_calls("check", gw, 1)[0]()
    assert isinstance(check, Respond) and check.status == 200, check
    out["cas_logout_nofsync"] = await timed_each(cas_calls("nf", gw, count))
    gw_fsync = Gateway(cfg, store, audit_on, fingerprint, signer=signer)
    out["cas_logout_fsync"] = await timed_each(cas_calls("fs", gw_fsync, count // 2))

    # SAML logout: learned tokens, then one logout per token; sign-only cost too.
    for key, alg in (
        ("rsa2048", "rsa-sha256"),
        ("rsa3072", "rsa-sha256"),
        ("ecp256", "ecdsa-sha256"),
    ):
        signer = Signer.from_pem_file(keys[key], alg)
        g = Gateway(config(alg, key), store, audit_off, fingerprint, signer=signer)
        prefix = f"inproc-{key}-"
        bulk_tokens(db, token_records(fingerprint, prefix, 0, count, time.time()))

        def make_saml(i: int, g: Any = g, prefix: str = prefix) -> Callable[[], Awaitable[Any]]:
            body = json.dumps({"token": saml_token(prefix, i)}).encode()
            r = Request(
                "POST",
                "/_security/saml/logout",
                "",
                (
                    ("host", "es.example:9200"),
                    ("content-type", "application/json"),
                    ("content-length", str(len(body))),
                ),
                body,
                "127.0.0.1",
                "bench",
            )
            return lambda: g.handle_request(r)

        first = await make_saml(0)()
        assert isinstance(first, Respond) and b'"redirect":"https://' in first.body, first
        out[f"saml_logout_{key}"] = await timed_each([make_saml(i) for i in range(1, count)])
        data = b"SAMLRequest=" + b"x" * 600 + b"&SigAlg=http%3A%2F%2Fwww.w3.org"
        sign_n = 50 if quick else 200
        t0 = time.process_time()
        for _ in range(sign_n):
            signer.sign(data)
        out[f"sign_{key}_cpu_us"] = (time.process_time() - t0) / sign_n * 1e6

    await store.close()
    audit_off.close()
    audit_on.close()
    return out
