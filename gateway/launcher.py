"""`gateway run`: the gateway addon on a lean mitmproxy master.

Stock mitmdump runs ~40 addons for every event; a reverse proxy needs five
(core, proxyserver, next_layer, tlsconfig, errorcheck). Fewer addons is
roughly half the CPU per request on the same traffic (REFERENCE.md).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import sys
from typing import Any

from mitmproxy import ctx, master, options
from mitmproxy.addons import core, errorcheck, next_layer, proxyserver, tlsconfig

from gateway.config import Config
from gateway.lean_master import event_loop_factory, trim_debug_checks, trim_dispatch
from gateway.mitm import LogoutGateway
from gateway.runtime import StartupError, start
from gateway.tls import write_combined_pem

log = logging.getLogger("gateway")


def lean_master(opts: options.Options, *addons: object, trimmed: bool = True) -> master.Master:
    """The addons a reverse/transparent proxy needs, then `addons`
    (scripts/bench builds its baseline (b) with none). `trimmed`: hooks
    dispatched through a handler table (gateway.lean_master); scripts/bench
    keeps an untrimmed master as the baseline of issue 16."""
    m = master.Master(opts, with_termlog=True)
    if trimmed:
        trim_dispatch(m)
    m.addons.add(
        core.Core(),
        proxyserver.Proxyserver(),
        next_layer.NextLayer(),
        tlsconfig.TlsConfig(),
        # The terminal log already shows a start-up error; repeating it on
        # stderr printed every such error twice.
        errorcheck.ErrorCheck(repeat_errors_on_stderr=False),
        *addons,
    )
    return m


def quiet_logging(verbose: bool = False) -> None:
    logging.getLogger().setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("asyncio", "hpack", "quic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not verbose:
        # Per-connection lines (client connect / server disconnect) drown the
        # gateway's own decisions; --verbose brings them back.
        logging.getLogger("mitmproxy.proxy.server").setLevel(logging.WARNING)


def proxy_mode(config: Config) -> str:
    listen = f"{config.listen_host}:{config.listen_port}"
    if config.mode == "transparent":
        return f"transparent@{listen}"
    return f"reverse:{config.upstream}@{listen}"


def proxy_options(config: Config) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "mode": [proxy_mode(config)],
        # A short-circuited request must not open an upstream connection.
        "connection_strategy": "lazy",
        # mitmproxy keeps its own (unused) CA here instead of ~/.mitmproxy.
        "confdir": str(config.state_dir / "mitmproxy"),
        "ssl_insecure": not config.upstream_tls.verify,
        # Never ask the upstream for certificate details to forge one: with
        # `tls` set every client gets the configured certificate.
        "upstream_cert": False,
        # SPEC §9: bodies over this go through streamed, never held whole; the
        # gateway still decides on the headers first (gateway.mitm_bodies).
        "stream_large_bodies": str(config.limits.stream_bodies_over),
    }
    combined = write_combined_pem(config)
    if combined is not None:
        opts["certs"] = [f"*={combined}"]
    if config.upstream_tls.ca_file is not None:
        opts["ssl_verify_upstream_trusted_ca"] = str(config.upstream_tls.ca_file)
    return opts


class Announce:
    """Prints the address actually listened on (port 0 picks a free one)."""

    def running(self) -> None:
        ps = ctx.master.addons.get("proxyserver")
        for addr in ps.listen_addrs():
            host, port = addr[0], addr[1]
            shown = f"[{host}]" if ":" in host else host
            scheme = "https" if ctx.options.certs else "http"
            print(f"gateway listening on {scheme}://{shown}:{port}", flush=True)
        # Said once; leave the chain so no later event pays for this addon.
        asyncio.get_running_loop().call_soon(ctx.master.addons.remove, self)


def listen_problem(config: Config) -> str | None:
    """Why the listen address cannot be bound, said once and with the address
    (mitmproxy's own message names the upstream first and repeats errno)."""
    if config.listen_port == 0:
        return None
    family = socket.AF_INET6 if ":" in config.listen_host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As asyncio's create_server does, so TIME_WAIT leftovers don't count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((config.listen_host, config.listen_port))
        except OSError as exc:
            shown = f"[{config.listen_host}]" if family == socket.AF_INET6 else config.listen_host
            why = "already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
            return f"listen: cannot listen on {shown}:{config.listen_port}: {why}"
    return None


async def serve(config: Config) -> int:
    problem = listen_problem(config)
    if problem is not None:
        print(f"gateway: cannot start: {problem}", file=sys.stderr)
        return 1
    try:
        runtime = await start(config)
    except StartupError as exc:
        print(f"gateway: cannot start: {exc}", file=sys.stderr)
        return 1
    if runtime.admin is not None:
        print(f"gateway admin listening on {runtime.admin.url}", flush=True)
    opts = options.Options()
    m = lean_master(opts, LogoutGateway(runtime), Announce())
    opts.update(**proxy_options(config))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, m.shutdown)
    # logrotate's postrotate: `kill -HUP` reopens the audit file at its path.
    loop.add_signal_handler(signal.SIGHUP, runtime.request_audit_reopen)
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        await m.run()
    finally:
        await runtime.close()
    print("gateway stopped", flush=True)
    return 0


def run(config: Config, *, verbose: bool = False) -> int:
    quiet_logging(verbose)
    trim_debug_checks()  # this process runs only the lean master
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(serve(config))
