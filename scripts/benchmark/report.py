"""The text report (docs/performance.md quotes it): settings, the proxy table,
logouts, the Redis stall, in-process figures, the large database, targets."""

from __future__ import annotations

from typing import Any

from .bodies import bodies_report


def bodies_only_report(res: dict[str, Any]) -> str:
    """`--bodies-only`: the machine, the bodies section and its targets."""
    m = res["machine"]
    out = [
        f"machine: {m['nproc']} x {m['cpu']}, Python {m['python']}, mitmproxy {m['mitmproxy']}; "
        f"gateway {m['commit']}",
        "",
        *bodies_report(res["bodies"]),
        "",
        "targets:",
        *(
            f"  [{'PASS' if t['pass'] else 'MISS'}] {t['target']}: {t['value']:.1f} {t['unit']}"
            for t in res["targets"]
        ),
        f"\n(total {res.get('elapsed_s', 0):.0f}s)",
    ]
    return "\n".join(out)


def report(res: dict[str, Any]) -> str:
    out: list[str] = []
    m, s = res["machine"], res["settings"]
    out.append(
        f"machine: {m['nproc']} x {m['cpu']}, {m['memory']}, Linux {m['kernel']}, "
        f"Python {m['python']}, mitmproxy {m['mitmproxy']}; gateway {m['commit']}"
    )
    out.append(
        f"load: {s['load']}, {s['connections']} keep-alive connections, {s['rounds']} rounds x "
        f"{s['seconds_per_window']:.0f}s per proxy, interleaved; upstream: {s['upstream']}; {s['redis']}"
    )
    out.append(
        f"pinning: {s['pinning']}; stores seeded with {s['seeded_revocations']:,} revocations; "
        "requests: 3 cookies (JSESSIONID among them) + opaque bearer, not revoked"
    )
    out.append("")
    out.append(
        "proxy                              req/s   CPU ms/req (min-max)   x(a)   x(b)  x(b0)   p50 ms  RSS MB"
    )
    for k, row in res["proxies"].items():
        out.append(
            f"({k}) {row['label']:<30}"[:35] + f" {row['rps']:>6.0f}   {row['cpu_ms_per_req']:.3f} "
            f"({row['cpu_ms_min']:.3f}-{row['cpu_ms_max']:.3f})   {row['x_a']:.2f}   {row['x_b']:.2f}"
            f"   {row['x_b0']:.2f}   {row['lat_p50_ms_c8']:>5.2f}  {row['rss_mb']:>6.0f}"
        )
    out.append(
        "  (medians of the rounds; x(a), x(b), x(b0): medians of the per-round ratios of CPU ms/req;"
        "\n   (b0) is the lean master as it was when issue 16 started: asyncio, untrimmed)"
    )
    if res["latency_c1"]:
        out.append("")
        out.append(
            "one connection (latency):  "
            + ";  ".join(
                f"({k}) p50 {v['p50_ms']:.3f} ms, mean {v['mean_ms']:.3f} ms, CPU {v['cpu_ms_per_req']:.3f} ms/req"
                for k, v in res["latency_c1"].items()
            )
        )
    out.append("")
    out.append(
        "logouts through `gateway run` (SQLite, audit fsync on; every request a fresh session/token):"
    )
    for name, label in (
        ("cas", "POST /cas/logout (cookies + bearer)"),
        ("saml_rsa2048", "POST /_security/saml/logout, RSA-2048"),
        ("saml_ecp256", "POST /_security/saml/logout, ECDSA P-256"),
    ):
        v = res["logouts"][name]
        out.append(
            f"  {label:<42} {v['rps']:>6.0f} req/s  CPU {v['cpu_ms_per_req']:.3f} ms/req "
            f"= {v['x_passthrough']:.2f}x passthrough (c)   p50 {v['lat_p50_ms']:.2f} ms"
        )
    st = res.get("redis_stall")
    if st:
        out.append("")
        out.append(
            f"Redis stalled {st['stall_ms']} ms ({st['method']}) under (d): a credentialed request waited "
            f"{st['credentialed_wait_ms']:.0f} ms (then {st['credentialed_status']}); meanwhile "
            f"{st['free_requests_during_stall']} credential-free requests completed "
            f"(statuses {st['free_statuses']}), median {st['free_median_ms']:.2f} ms, max {st['free_max_ms']:.2f} ms"
        )
    rl = res.get("replicated_logouts")
    if rl:
        out.append("")
        out.append(
            "logout latency on a Redis primary with one replica (POST /cas/logout, one connection, "
            f"audit fsync off, {rl['calls_per_setting']:,} calls each):"
        )
        for acks in (0, 1):
            v = rl[f"acks{acks}"]
            out.append(
                f"  min_replicas_ack: {acks}   p50 {v['p50_ms']:.3f} ms   p90 {v['p90_ms']:.3f} ms"
                f"   p99 {v['p99_ms']:.3f} ms"
            )
        out.append(f"  WAIT for the replica adds {rl['delta_p50_ms']:.3f} ms at the median")
    ip = res["inproc"]
    big = ip["revocations_big"]
    out.append("")
    out.append("in-process, per call (median of batches; CPU = process CPU time incl. threads):")

    def line(label: str, key: str) -> None:
        if key in ip:
            v = ip[key]
            out.append(f"  {label:<60} {v['us']:>8.1f} us   CPU {v['cpu_us']:>8.1f} us")

    line("Gateway.handle_request, passthrough, SQLite, 10 revocations", "hook_sqlite_10")
    line(f"Gateway.handle_request, passthrough, SQLite, {big:,} revocations", "hook_sqlite_big")
    line("  same, a different client each call, 10 revocations", "hook_sqlite_10_distinct")
    line(f"  same, a different client each call, {big:,} revocations", "hook_sqlite_big_distinct")
    line(f"  a revoked cookie among {big:,} (401 + audit, no fsync)", "hook_sqlite_big_revoked")
    line("LogoutGateway.request (mitmproxy hook), SQLite, 10", "mitm_hook_sqlite_10")
    line(f"LogoutGateway.request (mitmproxy hook), SQLite, {big:,}", "mitm_hook_sqlite_big")
    line("Gateway.handle_request, passthrough, memory store, empty", "hook_memory_0")
    line("Redis round trip alone (bare asyncio socket, MGET of 2 keys)", "redis_rtt_raw")
    line("Gateway.handle_request, passthrough, Redis, seeded (round trip)", "hook_redis_seeded")
    line(f"Gateway.handle_request, passthrough, Redis, {big:,} keys", "hook_redis_big")
    out.append("  logouts (median per call; fresh credentials every call):")
    for label, key in (
        ("POST /cas/logout, audit fsync off (SQLite commit still FULL)", "cas_logout_nofsync"),
        ("POST /cas/logout, audit fsync on", "cas_logout_fsync"),
        ("POST /_security/saml/logout, RSA-2048 (fsync off)", "saml_logout_rsa2048"),
        ("POST /_security/saml/logout, RSA-3072 (fsync off)", "saml_logout_rsa3072"),
        ("POST /_security/saml/logout, ECDSA P-256 (fsync off)", "saml_logout_ecp256"),
    ):
        line("  " + label, key)
    out.append(
        "  signature alone (CPU): "
        + ", ".join(
            f"{k} {ip[f'sign_{k}_cpu_us']:.0f} us" for k in ("rsa2048", "rsa3072", "ecp256")
        )
    )
    mc = res.get("metrics_cost")
    if mc:
        c_us = res["proxies"]["c"]["cpu_ms_per_req"] * 1000
        out.append(
            "  metrics (decision counter + timed store lookup), LogoutGateway.request: "
            f"{mc['hook_on_us']:.1f} us with, {mc['hook_off_us']:.1f} us without: "
            f"{mc['delta_us']:+.2f} us ({(mc['ratio'] - 1) * 100:+.1f}%) = "
            f"{mc['delta_us'] / c_us * 100:.2f}% of (c)'s CPU per request"
        )
        out.append(
            f"    pieces alone: count_decision {mc['count_decision_ns']:.0f} ns, "
            f"timed store lookup {mc['store_timing_ns']:+.0f} ns"
        )
    bp = res["big_db_process"]
    out.append("")
    out.append(
        f"{big:,} revocations: SQLite file {ip['db_bytes_big'] / 2**20:.1f} MiB "
        f"(bulk insert {ip['bulk_insert_s']:.1f} s); `gateway run` on it: RSS {bp['rss_mb']:.0f} MB, "
        f"start-up {bp['startup_s']:.1f} s (PRAGMA quick_check); memory store: +{ip.get('memory_store_big_rss_mb', float('nan')):.0f} MB RSS"
        + (
            f"; Redis: +{ip['redis_used_memory_mb_big']:.0f} MiB used_memory for {ip['redis_keys_big']:,} keys"
            if "redis_used_memory_mb_big" in ip
            else ""
        )
    )
    if "bodies" in res:
        out.append("")
        out.extend(bodies_report(res["bodies"]))
    out.append("")
    out.append("targets:")
    for t in res["targets"]:
        unit = t["unit"]
        val = (
            f"{t['value']:.3f}{unit}"
            if unit == "x"
            else f"{t['value']:.3f} {unit}"
            if unit in ("ms", "%")
            else f"{t['value']:.1f} {unit}"
        )
        out.append(f"  [{'PASS' if t['pass'] else 'MISS'}] {t['target']}: {val}")
    out.append(f"\n(total {res.get('elapsed_s', 0):.0f}s)")
    return "\n".join(out)
