"""The gateway's performance benchmark (`scripts/bench`; docs/performance.md).

Subcommands (the wrapper runs `run`; the others are the processes it starts):

  run        the whole benchmark: proxies under load, in-process figures, targets
  lean       a lean mitmproxy master with no addon of ours (proxy (b))
  upstream   a minimal asyncio HTTP/1.1 upstream (when nginx is not installed)
  load       an asyncio keep-alive load client (when wrk is not installed)
  bodyload   concurrent 100 MB uploads or downloads, timed (the bodies section)

Proxies, each its own process, measured in the same run and interleaved:
  (a) stock `mitmdump --mode reverse` with no script
  (b) a lean mitmproxy master, the addons `gateway run` uses, no gateway addon
  (c) `gateway run`, SQLite store
  (d) `gateway run`, Redis store
CPU per request is read from /proc/PID/stat (utime+stime of every thread)
around each load window; every figure is the median of the rounds, and ratios
are medians of per-round ratios (so slow drift of a noisy machine cancels out).
"""

from __future__ import annotations

import argparse
import sys


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="bench.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd")
    r = sub.add_parser("run", help="the benchmark")
    r.add_argument(
        "--quick", action="store_true", help="smoke run: 2 short rounds, 100k revocations"
    )
    r.add_argument("--json", metavar="FILE", help="write every figure as JSON")
    r.add_argument("--rounds", type=int, default=0)
    r.add_argument("--duration", type=float, default=0.0, help="seconds per load window")
    r.add_argument("--conns", type=int, default=8)
    r.add_argument(
        "--seed", type=int, default=10_000, help="revocations seeded in the proxies' stores"
    )
    r.add_argument(
        "--revocations", type=int, default=0, help="the large store size (default 1,000,000)"
    )
    r.add_argument(
        "--no-pin", action="store_true", help="do not pin proxies and load to separate CPUs"
    )
    r.add_argument("--keep", action="store_true", help="keep the temporary directory")
    r.add_argument("--no-wrk", action="store_true", help="use the asyncio load client")
    r.add_argument("--no-nginx", action="store_true", help="use the asyncio upstream")
    r.add_argument("--no-redis", action="store_true", help="skip (d) and the Redis figures")
    r.add_argument("--install", action="store_true", help="(handled by scripts/bench)")
    r.add_argument("--no-bodies", action="store_true", help="skip the 100 MB bodies section")
    r.add_argument(
        "--bodies-only", action="store_true", help="only the 100 MB bodies section (and targets)"
    )
    lean = sub.add_parser("lean")
    lean.add_argument("--upstream", required=True)
    lean.add_argument("--port", type=int, required=True)
    lean.add_argument("--confdir", required=True)
    lean.add_argument(
        "--baseline", action="store_true", help="(b0): the lean master before issue 16's trims"
    )
    bl = sub.add_parser("bodyload")
    bl.add_argument("--port", type=int, required=True)
    bl.add_argument("--kind", choices=("up", "down"), required=True)
    bl.add_argument("--path", required=True)
    bl.add_argument("--bytes", type=int, required=True)
    bl.add_argument("--conns", type=int, default=1)
    mr = sub.add_parser("memrss")
    mr.add_argument("--n", type=int, required=True)
    up = sub.add_parser("upstream")
    up.add_argument("--port", type=int, required=True)
    ld = sub.add_parser("load")
    ld.add_argument("--port", type=int, required=True)
    ld.add_argument("--kind", choices=("pass", "cas", "saml"), default="pass")
    ld.add_argument("--prefix", default="")
    ld.add_argument("--start", type=int, default=0)
    ld.add_argument("--duration", type=float, default=3.0)
    ld.add_argument("--conns", type=int, default=8)
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args = ap.parse_args(argv)
    # Each subcommand imports only its own modules: the children (the lean
    # master above all, whose RSS is a baseline) load no more than they run.
    if args.cmd in (None, "run"):
        if args.cmd is None:
            args = ap.parse_args(["run", *(argv or sys.argv[1:])])
        from .run import run

        return run(args)
    if args.cmd == "lean":
        from .in_process import serve_lean_master

        return serve_lean_master(args.upstream, args.port, args.confdir, args.baseline)
    if args.cmd == "memrss":
        from .in_process import memory_store_growth_mb

        print(f"{memory_store_growth_mb(args.n):.1f}")
        return 0
    if args.cmd == "bodyload":
        from .body_client import run_bodyload

        return run_bodyload(args.kind, args.port, args.path, args.bytes, args.conns)
    if args.cmd == "upstream":
        from .upstream_server import serve_upstream

        return serve_upstream(args.port)
    from .load_client import run_load
    from .workload import Load

    return run_load(args.port, Load(args.kind, args.prefix, args.start), args.duration, args.conns)
