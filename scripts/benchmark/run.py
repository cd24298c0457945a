"""`bench.py run`: the whole benchmark, in order: the services and proxies,
the load rounds, the Redis stall, the in-process figures, the large database;
then the targets, the report and (with --json) every figure."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from .big_db import big_db_process
from .bodies import bodies_section
from .configs import make_keys
from .in_process import in_process_figures
from .load import Loader
from .machine import machine
from .metrics_cost import metrics_cost
from .processes import Procs
from .procfs import rss_mb
from .proxies import define_proxies, start_proxies
from .redis_stall import redis_stall
from .replicated_logouts import replicated_logouts
from .report import bodies_only_report, report
from .rounds import measured_proxies, run_rounds, summarize
from .services import start_redis, start_upstream
from .targets import bodies_targets, targets
from .workload import Load


def run_bodies_only(args: argparse.Namespace, multi: bool) -> int:
    """`--bodies-only`: the 100 MB bodies section by itself."""
    started = time.monotonic()
    cpu_proxy, cpu_load = ("0", "1") if multi else (None, None)
    tmp = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    procs = Procs()
    results: dict[str, Any] = {"machine": machine()}
    try:
        (tmp / "mitm").mkdir()
        results["bodies"] = bodies_section(
            procs, tmp, cpu_proxy, cpu_load, not args.no_nginx, args.quick, started
        )
    finally:
        procs.stop_all()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    results["elapsed_s"] = time.monotonic() - started
    results["targets"] = bodies_targets(results["bodies"])
    print()
    print(bodies_only_report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    quick = args.quick
    rounds = args.rounds or (2 if quick else 6)
    dur = args.duration or (1.0 if quick else 3.0)
    dur_short = max(1.0, dur * 2 / 3)
    conns = args.conns
    n_big = args.revocations or (100_000 if quick else 1_000_000)
    multi = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None and not args.no_pin
    cpu_proxy, cpu_load = ("0", "1") if multi else (None, None)
    if args.bodies_only:
        return run_bodies_only(args, multi)

    tmp = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    procs = Procs()
    results: dict[str, Any] = {"machine": machine(), "settings": {}}
    try:
        wrk = None if args.no_wrk else shutil.which("wrk")
        loader = Loader(tmp, cpu_load, wrk)
        up_port, up_desc = start_upstream(procs, tmp, cpu_load, not args.no_nginx)
        redis = None if args.no_redis else start_redis(procs, tmp, cpu_load)
        keys = make_keys(tmp)
        results["settings"] = {
            "upstream": up_desc,
            "load": loader.tool,
            "redis": redis.version if redis else "no redis-server: (d) skipped",
            "rounds": rounds,
            "seconds_per_window": dur,
            "connections": conns,
            "pinning": f"proxies on CPU {cpu_proxy}, load+upstream+redis on CPU {cpu_load}"
            if multi
            else "none",
            "seeded_revocations": args.seed,
        }
        print(
            f"== bench: {rounds} rounds x {dur:.0f}s, {conns} keep-alive connections; "
            f"upstream {up_desc}; load {loader.tool}; {results['settings']['redis']}",
            flush=True,
        )

        # --- stores, configs, and the proxies up
        px = define_proxies(tmp, up_port, keys, redis.port if redis else None, args.seed, rounds)
        start_proxies(procs, px, tmp, cpu_proxy)
        # warm-up (not measured): imports, JIT-less caches, connection pools
        for k in measured_proxies(px):
            loader.run(px[k].port, Load("pass"), 1, conns)
        print(f"== proxies up and warm ({time.monotonic() - started:.0f}s)", flush=True)

        done = run_rounds(px, loader, rounds, dur, dur_short, conns, started)

        # --- Redis stall (d running, Redis blocked): credential-free requests go on
        stall = None
        if redis is not None and "d" in px:
            stall = asyncio.run(redis_stall(px["d"].port, redis.port))
        rss = {k: rss_mb(p.proc.pid) for k, p in px.items() if p.proc is not None}
        for p in px.values():
            if p.proc is not None:
                procs.stop(p.proc)

        results.update(summarize(px, done, rss))
        results["redis_stall"] = stall
        # --- logout latency with min_replicas_ack 1 vs 0 (a primary and a replica)
        results["replicated_logouts"] = (
            None
            if redis is None
            else replicated_logouts(
                procs, tmp, up_port, cpu_proxy, cpu_load, rounds, 300 if quick else 1000
            )
        )

        # --- 100 MB bodies (issue 16): their own proxies, the ones above stopped
        if not args.no_bodies:
            results["bodies"] = bodies_section(
                procs, tmp, cpu_proxy, cpu_load, not args.no_nginx, quick, started
            )
        print(
            f"== load done ({time.monotonic() - started:.0f}s); in-process figures ...", flush=True
        )

        # --- in-process
        if multi:  # the proxies are stopped: CPU 0 is free for the in-process figures
            os.sched_setaffinity(0, {int(cpu_proxy or 0)})
        results["inproc"] = asyncio.run(
            in_process_figures(
                tmp, keys, n_big, quick, f"redis://127.0.0.1:{redis.port}/1" if redis else None
            )
        )
        results["metrics_cost"] = asyncio.run(metrics_cost(tmp, quick))
        if multi:
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))

        # --- a gateway process on the n_big database: RSS and start-up time
        results["big_db_process"] = big_db_process(
            procs, tmp, up_port, loader, conns, n_big, results["inproc"]["db_bytes_big"]
        )
        results["elapsed_s"] = time.monotonic() - started
    finally:
        procs.stop_all()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"(kept {tmp})")

    results["targets"] = targets(results)
    print()
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
        print(f"\n(figures written to {args.json})")
    return 0
