"""The bodies section (issue 16; SPEC §9): 100 MB uploads and downloads

  (G) through `gateway run` (SQLite; limits.stream_bodies_over at its 1 MiB default)
  (M) through stock mitmdump with `--set stream_large_bodies=1m`, no script
  (D) straight to the upstream (nginx: dav PUT for uploads, a file for downloads;
      without nginx, scripts/bodies_upstream.py)

one at a time in interleaved rounds, then 8 at once. For the proxies: RSS growth
(the peak during the transfer over the RSS before it: VmHWM after resetting it
through /proc/PID/clear_refs, else sampled every 5 ms) and, per transfer, time
to the first body byte (downloads) or from the last body byte sent to the
answer (uploads: a proxy that buffered the body only then sends it on).
The client is its own process (`bench.py bodyload`), pinned with the upstream.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .configs import gateway_config, write_config
from .processes import BIN, ROOT, Procs, bench_subcommand, free_port, wait_port
from .procfs import pin, pin_process, rss_mb
from .services import nginx_binary, start_nginx
from .stats import median

MB = 1024 * 1024
SIZE = 100 * MB
CONCURRENT = 8
LABELS = {
    "G": "gateway run (SQLite)",
    "M": "stock mitmdump, stream_large_bodies=1m",
    "D": "upstream direct",
}


def start_bodies_upstream(
    procs: Procs, tmp: Path, cpus: str | None, use_nginx: bool
) -> tuple[int, str]:
    port = free_port()
    nginx = nginx_binary()
    if nginx and use_nginx:
        ndir = tmp / "nginx-bodies"
        (ndir / "www" / "upload").mkdir(parents=True)
        with (ndir / "www" / "download").open("wb") as f:
            block = os.urandom(MB)
            for _ in range(SIZE // MB):
                f.write(block)
        started = start_nginx(
            procs,
            nginx,
            ndir,
            port,
            cpus,
            tmp / "nginx-bodies.log",
            http="sendfile on;",
            server=f"root {ndir}/www;\n"
            "    location /upload/ { dav_methods PUT; client_max_body_size 0; }\n"
            "    location = /download { default_type application/octet-stream; }",
        )
        if started is not None:
            return port, "nginx (dav PUT / sendfile)"
        port = free_port()
    argv = [sys.executable, str(ROOT / "scripts" / "bodies_upstream.py"), "--port", str(port)]
    proc = procs.start([*pin(cpus), *argv], tmp / "bodies-upstream.log")
    wait_port(port, proc, 10)
    return port, "asyncio upstream (scripts/bodies_upstream.py)"


def _hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_growth_mb(pid: int, run: Callable[[], Any]) -> tuple[float, Any]:
    """(peak RSS during `run` minus RSS before it, in MB; what `run` returned)."""
    before = rss_mb(pid)
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := current RSS
        result = run()
        return _hwm_mb(pid) - before, result
    except OSError:
        pass
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], rss_mb(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = run()
    finally:
        done.set()
        sampler.join()
    return max(peak[0], rss_mb(pid)) - before, result


def _load(port: int, kind: str, conns: int, cpus: str | None) -> list[dict[str, Any]]:
    path = "/upload/f" if kind == "up" else f"/download?bytes={SIZE}"
    argv = [
        *pin(cpus),
        *bench_subcommand("bodyload", "--port", str(port), "--kind", kind, "--path", path),
        "--bytes",
        str(SIZE),
        "--conns",
        str(conns),
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"bodyload {kind} on {port} failed: {out.stderr.strip()[-500:]}")
    transfers: list[dict[str, Any]] = json.loads(out.stdout.strip().splitlines()[-1])
    bad = [t for t in transfers if t["status"] not in (200, 201, 204) or t["bytes"] != SIZE]
    if bad:
        raise RuntimeError(f"bodyload {kind} on {port}: {bad[0]}")
    return transfers


def _start_proxies(
    procs: Procs, tmp: Path, up_port: int, cpus: str | None
) -> dict[str, tuple[int, subprocess.Popen[bytes]]]:
    up_url = f"http://127.0.0.1:{up_port}"
    pg, pm = free_port(), free_port()
    cfg = write_config(
        tmp,
        "bodies-g",
        gateway_config(tmp, "bodies-g", pg, up_port, {"backend": "sqlite"}, None, None),
    )
    argvs = {
        "G": [str(BIN / "gateway"), "run", "--config", str(cfg)],
        "M": [
            str(BIN / "mitmdump"),
            "--mode",
            f"reverse:{up_url}@127.0.0.1:{pm}",
            "--set",
            "flow_detail=0",
            "--set",
            "connection_strategy=lazy",
            "--set",
            "stream_large_bodies=1m",
            "--set",
            f"confdir={tmp / 'mitm' / 'bodies-m'}",
        ],
    }
    ports = {"G": pg, "M": pm}
    started = {
        k: (ports[k], procs.start(argv, tmp / f"bodies-{k}.log")) for k, argv in argvs.items()
    }
    for port, proc in started.values():
        wait_port(port, proc)
        pin_process(proc.pid, cpus)
    return started


def bodies_section(
    procs: Procs,
    tmp: Path,
    cpu_proxy: str | None,
    cpu_load: str | None,
    use_nginx: bool,
    quick: bool,
    started: float,
) -> dict[str, Any]:
    up_port, up_desc = start_bodies_upstream(procs, tmp, cpu_load, use_nginx)
    proxies = _start_proxies(procs, tmp, up_port, cpu_proxy)
    targets = {**{k: port for k, (port, _) in proxies.items()}, "D": up_port}
    pids = {k: proc.pid for k, (_, proc) in proxies.items()}
    rounds = 1 if quick else 3
    conc_rounds = 1 if quick else 2
    single: dict[str, dict[str, list[float]]] = {k: {} for k in targets}
    conc: dict[str, dict[str, list[float]]] = {k: {} for k in targets}

    def record(table: dict[str, dict[str, list[float]]], key: str, name: str, value: float) -> None:
        table[key].setdefault(name, []).append(value)

    def measure(key: str, kind: str, conns: int, table: dict[str, dict[str, list[float]]]) -> None:
        def go() -> list[dict[str, Any]]:
            return _load(targets[key], kind, conns, cpu_load)

        if key in pids:
            growth, transfers = peak_growth_mb(pids[key], go)
            record(table, key, f"{kind}_rss_growth_mb", growth)
            record(table, key, f"{kind}_rss_after_mb", rss_mb(pids[key]))
        else:
            transfers = go()
        times = [t["total_s"] for t in transfers]
        record(table, key, f"{kind}_total_s", median(times))
        record(table, key, f"{kind}_mb_per_s", SIZE * len(transfers) / MB / max(times))
        if kind == "down":
            record(table, key, "down_ttfb_ms", median([t["ttfb_s"] * 1000 for t in transfers]))
        else:
            record(table, key, "up_answer_ms", median([t["answer_s"] * 1000 for t in transfers]))

    # warm-up: first-use allocations (imports, buffers) are not what is measured
    for key in targets:
        _load(targets[key], "up", 1, cpu_load)
        _load(targets[key], "down", 1, cpu_load)
    order = list(targets)
    for r in range(rounds):
        for key in order if r % 2 == 0 else order[::-1]:
            measure(key, "up", 1, single)
            measure(key, "down", 1, single)
        print(f"   bodies round {r + 1}/{rounds} ({time.monotonic() - started:.0f}s)", flush=True)
    for r in range(conc_rounds):
        for key in order if r % 2 == 0 else order[::-1]:
            measure(key, "up", CONCURRENT, conc)
            measure(key, "down", CONCURRENT, conc)
        print(
            f"   bodies {CONCURRENT} at once, round {r + 1}/{conc_rounds} "
            f"({time.monotonic() - started:.0f}s)",
            flush=True,
        )
    baseline = {k: rss_mb(pid) for k, pid in pids.items()}
    for _, proc in proxies.values():
        procs.stop(proc)

    def medians(table: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
        return {k: {name: median(v) for name, v in rows.items()} for k, rows in table.items()}

    return {
        "upstream": up_desc,
        "size_mb": SIZE // MB,
        "concurrent": CONCURRENT,
        "rounds": rounds,
        "concurrent_rounds": conc_rounds,
        "labels": LABELS,
        "single": medians(single),
        "concurrent_figures": medians(conc),
        "rss_end_mb": baseline,
    }


def bodies_report(b: dict[str, Any]) -> list[str]:
    out = [
        f"bodies: {b['size_mb']} MB each, upstream {b['upstream']}; one at a time "
        f"(median of {b['rounds']} interleaved rounds), then {b['concurrent']} at once "
        f"(median of {b['concurrent_rounds']}); RSS growth = peak during the transfer - RSS before",
        "                                          upload                        download",
        "                               RSS+ MB   MB/s  answer ms      RSS+ MB   MB/s  1st byte ms",
    ]

    def row(label: str, f: dict[str, float]) -> str:
        def g(name: str, fmt: str) -> str:
            return format(f[name], fmt) if name in f else "-"

        return (
            f"  {label:<28} {g('up_rss_growth_mb', '>6.1f'):>6} {g('up_mb_per_s', '>6.0f'):>6} "
            f"{g('up_answer_ms', '>9.1f'):>9}      {g('down_rss_growth_mb', '>6.1f'):>6} "
            f"{g('down_mb_per_s', '>6.0f'):>6} {g('down_ttfb_ms', '>11.1f'):>11}"
        )

    for key, label in b["labels"].items():
        out.append(row(f"({key}) {label}"[:28], b["single"][key]))
    out.append(f"  {b['concurrent']} at once (RSS+ is the whole process; MB/s all together):")
    for key, label in b["labels"].items():
        out.append(row(f"({key}) {label}"[:28], b["concurrent_figures"][key]))
    return out
