"""The load windows: passthrough through (a)-(d) interleaved, one-connection
latency of (c) and (d), logouts through (c) and (e); and their medians.

CPU per request is read from /proc/PID/stat (utime+stime of every thread)
around each window; every figure is the median of the rounds, and ratios are
medians of per-round ratios (so slow drift of a noisy machine cancels out).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from .load import Loader
from .procfs import cpu_seconds
from .proxies import Proxy
from .stats import median
from .workload import SAML_BLOCK, Load

Window = dict[str, Any]  # one load window's figures (Loader.run plus CPU and rates)


@dataclass
class Rounds:
    """What the rounds measured, beyond each proxy's own passthrough windows."""

    latency_c1: dict[str, list[Window]]  # (c), (d) with one connection
    logouts: dict[str, list[Window]] = field(
        default_factory=lambda: {"cas": [], "saml_rsa2048": [], "saml_ecp256": []}
    )


def measured_proxies(px: dict[str, Proxy]) -> list[str]:
    """The proxies compared on passthrough traffic ((e) only serves SAML logouts),
    in the order of a round: (b), (b0) and (c) neighbours."""
    return [k for k in ("a", "b", "b0", "c", "d") if k in px]


def window(p: Proxy, loader: Loader, load: Load, duration: float, conns: int) -> Window:
    """One load window against `p`, with the CPU it spent per request."""
    assert p.proc is not None
    cpu0 = cpu_seconds(p.proc.pid)
    res = loader.run(p.port, load, duration, conns)
    res["cpu_s"] = cpu_seconds(p.proc.pid) - cpu0
    reqs = max(1, res["requests"])
    res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
    res["cpu_ms_per_req"] = res["cpu_s"] * 1000 / reqs
    if res["errors"] or res["non2xx"]:
        print(
            f"   ({p.key}) {load.kind}: {res['errors']} errors, {res['non2xx']} non-2xx",
            flush=True,
        )
    return res


def run_rounds(
    px: dict[str, Proxy],
    loader: Loader,
    rounds: int,
    dur: float,
    dur_short: float,
    conns: int,
    started: float,
) -> Rounds:
    """a, b, c, d interleaved (ABBA order), then c=1 latency for c/d, then
    logouts through the gateway; `rounds` times. Appends to each Proxy.rounds."""
    main = measured_proxies(px)
    done = Rounds({k: [] for k in ("c", "d") if k in px})
    lat1, logouts = done.latency_c1, done.logouts
    for r in range(rounds):
        # ABBA: a b c d, then d c b a: a slow drift of the machine hits every
        # proxy alike over two rounds, and (b), (c) are always neighbours.
        order = main if r % 2 == 0 else main[::-1]
        line = []
        for k in order:
            res = window(px[k], loader, Load("pass"), dur, conns)
            px[k].rounds.append(res)
            line.append(f"{k} {res['rps']:.0f}/s {res['cpu_ms_per_req']:.3f}ms")
        for k in lat1:
            lat1[k].append(window(px[k], loader, Load("pass"), dur_short, 1))
        logouts["cas"].append(
            window(px["c"], loader, Load("cas", f"r{r}-{secrets.token_hex(3)}"), dur_short, conns)
        )
        logouts["saml_rsa2048"].append(
            window(px["c"], loader, Load("saml", "saml-rsa-", SAML_BLOCK * r), dur_short, conns)
        )
        logouts["saml_ecp256"].append(
            window(px["e"], loader, Load("saml", "saml-ec-", SAML_BLOCK * r), dur_short, conns)
        )
        for name in ("saml_rsa2048", "saml_ecp256"):
            if logouts[name][-1]["requests"] > SAML_BLOCK:
                print(f"   warning: {name} ran out of learned tokens", flush=True)
        print(
            f"   round {r + 1}/{rounds}: "
            + ", ".join(line)
            + f" | logout cas {logouts['cas'][-1]['cpu_ms_per_req']:.3f}ms"
            + f" saml-rsa {logouts['saml_rsa2048'][-1]['cpu_ms_per_req']:.3f}ms"
            + f" saml-ec {logouts['saml_ecp256'][-1]['cpu_ms_per_req']:.3f}ms"
            + f" ({time.monotonic() - started:.0f}s)",
            flush=True,
        )
    return done


def summarize(px: dict[str, Proxy], done: Rounds, rss: dict[str, float]) -> dict[str, Any]:
    """The medians of the rounds: "proxies", "latency_c1" and "logouts" of the results."""
    table = {}
    for k in measured_proxies(px):
        rs = px[k].rounds
        row = {
            "label": px[k].label,
            "rps": median([x["rps"] for x in rs]),
            "cpu_ms_per_req": median([x["cpu_ms_per_req"] for x in rs]),
            "cpu_ms_min": min(x["cpu_ms_per_req"] for x in rs),
            "cpu_ms_max": max(x["cpu_ms_per_req"] for x in rs),
            "lat_p50_ms_c8": median([x["lat_p50_us"] for x in rs]) / 1000,
            "rss_mb": rss.get(k, float("nan")),
            "x_a": median(
                [
                    x["cpu_ms_per_req"] / a["cpu_ms_per_req"]
                    for x, a in zip(rs, px["a"].rounds, strict=True)
                ]
            ),
            "x_b": median(
                [
                    x["cpu_ms_per_req"] / b["cpu_ms_per_req"]
                    for x, b in zip(rs, px["b"].rounds, strict=True)
                ]
            ),
            "x_b0": median(
                [
                    x["cpu_ms_per_req"] / b0["cpu_ms_per_req"]
                    for x, b0 in zip(rs, px["b0"].rounds, strict=True)
                ]
            ),
            "rounds": rs,
        }
        table[k] = row
    return {
        "proxies": table,
        "latency_c1": {
            k: {
                "p50_ms": median([x["lat_p50_us"] for x in v]) / 1000,
                "mean_ms": median([x["lat_mean_us"] for x in v]) / 1000,
                "cpu_ms_per_req": median([x["cpu_ms_per_req"] for x in v]),
                "rounds": v,
            }
            for k, v in done.latency_c1.items()
        },
        "logouts": {
            name: {
                "rps": median([x["rps"] for x in v]),
                "cpu_ms_per_req": median([x["cpu_ms_per_req"] for x in v]),
                "x_passthrough": median(
                    [
                        x["cpu_ms_per_req"] / c["cpu_ms_per_req"]
                        for x, c in zip(v, px["c"].rounds, strict=True)
                    ]
                ),
                "lat_p50_ms": median([x["lat_p50_us"] for x in v]) / 1000,
                "rounds": v,
            }
            for name, v in done.logouts.items()
        },
    }
