"""The proxies under load, each its own process:

(a) stock `mitmdump --mode reverse` with no script
(b) a lean mitmproxy master, the addons `gateway run` uses, no gateway addon
(b0) the same lean master as it was when issue 16 started (asyncio, untrimmed)
(c) `gateway run`, SQLite store
(d) `gateway run`, Redis store (when redis-server is installed)
(e) `gateway run`, SQLite store, ECDSA SP key (SAML logouts only)
"""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .configs import gateway_config, write_config
from .in_process import seed_redis, seed_sqlite
from .processes import BIN, Procs, bench_subcommand, free_port, http_get, wait_port
from .procfs import pin_process
from .workload import PASS_HEADERS, PASS_PATH, SAML_BLOCK


@dataclass
class Proxy:
    key: str  # a, b, b0, c, d, e
    label: str
    argv: list[str]
    port: int
    proc: subprocess.Popen[bytes] | None = None
    rounds: list[dict[str, Any]] = field(default_factory=list)


def define_proxies(
    tmp: Path,
    up_port: int,
    keys: dict[str, Path],
    redis_port: int | None,
    seed: int,
    rounds: int,
) -> dict[str, Proxy]:
    """The proxies by key, configured and their stores seeded (not started):
    `seed` revocations each, and learned SAML tokens enough for `rounds`."""
    px: dict[str, Proxy] = {}
    mitm_dir = tmp / "mitm"
    mitm_dir.mkdir()
    up_url = f"http://127.0.0.1:{up_port}"
    pa = free_port()
    px["a"] = Proxy(
        "a",
        "stock mitmdump",
        [
            str(BIN / "mitmdump"),
            "--mode",
            f"reverse:{up_url}@127.0.0.1:{pa}",
            "--set",
            "flow_detail=0",
            "--set",
            "connection_strategy=lazy",
            "--set",
            f"confdir={mitm_dir / 'a'}",
        ],
        pa,
    )
    pb = free_port()
    px["b"] = Proxy(
        "b",
        "lean master, no addon",
        bench_subcommand(
            "lean", "--upstream", up_url, "--port", str(pb), "--confdir", str(mitm_dir / "b")
        ),
        pb,
    )
    pb0 = free_port()
    px["b0"] = Proxy(
        "b0",
        "lean master at issue 16 start",
        bench_subcommand(
            "lean",
            "--upstream",
            up_url,
            "--port",
            str(pb0),
            "--confdir",
            str(mitm_dir / "b0"),
            "--baseline",
        ),
        pb0,
    )

    def sqlite_gateway(key: str, label: str, sig_alg: str, keypair: Any, prefix: str) -> None:
        """A `gateway run` on SQLite whose SAML route signs with `keypair`."""
        port = free_port()
        db = tmp / key / "gateway.db"
        (tmp / key).mkdir()
        store = {"backend": "sqlite", "sqlite_path": str(db)}
        cfg = write_config(
            tmp, key, gateway_config(tmp, key, port, up_port, store, sig_alg, keypair)
        )
        asyncio.run(seed_sqlite(db, seed, [(prefix, SAML_BLOCK * rounds)]))
        argv = [str(BIN / "gateway"), "run", "--config", str(cfg)]
        px[key] = Proxy(key, label, argv, port)

    sqlite_gateway("c", "gateway run, SQLite", "rsa-sha256", keys["rsa2048"], "saml-rsa-")
    if redis_port is not None:
        pd = free_port()
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        d_cfg = write_config(
            tmp,
            "d",
            gateway_config(
                tmp, "d", pd, up_port, {"backend": "redis", "redis_url": redis_url}, None, None
            ),
        )
        asyncio.run(seed_redis(redis_url, seed))
        px["d"] = Proxy(
            "d",
            "gateway run, Redis",
            [str(BIN / "gateway"), "run", "--config", str(d_cfg)],
            pd,
        )
    sqlite_gateway(
        "e", "gateway run, SQLite, ECDSA key", "ecdsa-sha256", keys["ecp256"], "saml-ec-"
    )
    return px


def start_proxies(procs: Procs, px: dict[str, Proxy], tmp: Path, cpus: str | None) -> None:
    """Start every proxy, wait until each passes a request through, then pin it."""
    for p in px.values():
        p.proc = procs.start(p.argv, tmp / f"proxy-{p.key}.log")
    for p in px.values():
        assert p.proc is not None
        wait_port(p.port, p.proc)
        status = http_get(p.port, PASS_PATH, PASS_HEADERS)
        if status != 200:
            raise RuntimeError(f"({p.key}) answered {status} to a passthrough request")
        # started unpinned (start-up is import-heavy), pinned before any load
        pin_process(p.proc.pid, cpus)
