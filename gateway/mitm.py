"""The only module that handles mitmproxy's types: flows ↔ `Request`/`Decision`,
and the `LogoutGateway` addon that wires the hooks. (`gateway.launcher` also
imports mitmproxy, to build the lean master around this addon.)

Fail closed: mitmproxy logs an exception raised by an addon hook and sends the
flow on upstream. Every hook here therefore catches everything and answers 503
itself, so no bug in the gateway ever lets a request through unchecked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any

from mitmproxy import ctx, exceptions, http, io
from mitmproxy.utils import human

from gateway import responses
from gateway.config import Config, ConfigError, load_config
from gateway.http import Decision, Forward, RecordedFlow, Request, Respond, Response
from gateway.mitm_bodies import ANSWERED, BODY_CAP, install
from gateway.runtime import Runtime, StartupError, start
from gateway.tls import write_combined_pem

log = logging.getLogger("gateway")

# flow.metadata key: what the gateway did with this flow ("responded"/"forwarded").
HANDLED = "logout_gateway"


def _headers(fields: tuple[tuple[bytes, bytes], ...]) -> tuple[tuple[str, str], ...]:
    # Straight from the raw fields (twice as fast as Headers.items()); decoded
    # the way mitmproxy decodes them, so non-UTF-8 bytes survive as surrogates.
    return tuple(
        (k.decode("utf-8", "surrogateescape").lower(), v.decode("utf-8", "surrogateescape"))
        for k, v in fields
    )


def to_request(flow: http.HTTPFlow, *, with_body: bool = True) -> Request:
    req = flow.request
    path, _, query = req.path.partition("?")
    peer = flow.client_conn.peername
    return Request(
        method=req.method,
        path=path,
        query=query,
        headers=_headers(req.headers.fields),
        body=req.raw_content if with_body else None,
        client=peer[0] if peer else None,
        request_id=flow.id,
    )


def to_response(flow: http.HTTPFlow) -> Response:
    assert flow.response is not None
    return Response(
        status=flow.response.status_code,
        headers=_headers(flow.response.headers.fields),
        body=flow.response.raw_content,  # as sent; learning refuses encoded bodies
    )


def make_response(answer: Respond) -> http.Response:
    headers = http.Headers([(k.encode(), v.encode()) for k, v in answer.headers])
    return http.Response.make(answer.status, answer.body, headers)


def mark(flow: http.HTTPFlow, decision: Decision, route: str | None) -> None:
    """For people watching in mitmweb: what the gateway did with this flow."""
    if isinstance(decision, Respond):
        what = f"answered {decision.status}"
        if route is not None:
            flow.marked = ":door:"
        elif decision.status == 401:
            flow.marked = ":no_entry:"
            what = "refused 401 (revoked or invalid credential)"
    else:
        if route is None:
            return
        what = "revoked, then forwarded"
        flow.marked = ":door:"
    flow.comment = f"logout-gateway: {route + ' ' if route else ''}{what}"


def apply(flow: http.HTTPFlow, decision: Decision) -> None:
    if isinstance(decision, Respond):
        flow.response = make_response(decision)
        flow.metadata[HANDLED] = "responded"
        return
    assert isinstance(decision, Forward)
    for name in decision.drop_headers:
        flow.request.headers.pop(name, None)
    if decision.query is not None:
        path = flow.request.path.partition("?")[0]
        flow.request.path = f"{path}?{decision.query}" if decision.query else path
    flow.metadata[HANDLED] = "forwarded"


class FlowFileError(Exception):
    pass


def read_flows(path: Path) -> Iterator[RecordedFlow]:
    """The HTTP flows of a mitmproxy capture (`mitmdump -w`), in order."""
    try:
        with path.open("rb") as f:
            for flow in io.FlowReader(f).stream():
                if not isinstance(flow, http.HTTPFlow):
                    continue
                yield RecordedFlow(
                    to_request(flow),
                    to_response(flow) if flow.response is not None else None,
                    flow.request.timestamp_start or 0.0,
                )
    except OSError as exc:
        raise FlowFileError(f"{path}: {exc.strerror or exc}") from exc
    except exceptions.FlowReadException as exc:
        raise FlowFileError(f"{path}: not a mitmproxy flow file ({exc})") from exc


def read_captures(paths: Sequence[Path]) -> list[tuple[str, RecordedFlow]]:
    """(file name, flow) for every HTTP flow of the captures, in order."""
    return [(p.name, flow) for p in paths for flow in read_flows(p)]


def _body_length(req: http.Request) -> int | None:
    """The body length the headers promise (0: no body), or None: unknown
    until it has arrived (chunked; HTTP/2 or /3 without Content-Length)."""
    headers = req.headers
    if "transfer-encoding" in headers:
        return None
    values = headers.get_all("content-length")
    if not values:
        return 0 if req.data.http_version in (b"HTTP/1.1", b"HTTP/1.0") else None
    if len(values) != 1 or not values[0].strip().isdigit():
        return None  # (mitmproxy refuses such an HTTP/1 request itself)
    return int(values[0])


def streaming_advice(config: Config, stream_large_bodies: str | None) -> str | None:
    """What is wrong with mitmproxy's `stream_large_bodies` for this config, if
    anything. `gateway run` sets it from `limits.stream_bodies_over`; in stock
    mitmproxy it is the user's option (mitmweb users may want to see bodies),
    so the addon only says so: the gateway's guarantees (decided before a byte
    goes upstream, capped reads) hold either way."""
    want = config.limits.stream_bodies_over
    if not stream_large_bodies:
        return (
            "stream_large_bodies is not set: every body is held whole in memory; "
            f"add --set stream_large_bodies={want} (limits.stream_bodies_over)"
        )
    try:
        size = human.parse_size(stream_large_bodies)
    except ValueError:
        return None  # mitmproxy refuses it itself
    if size is not None and size < config.limits.max_body_bytes:
        return (
            f"stream_large_bodies={stream_large_bodies} is below limits.max_body_bytes "
            f"({config.limits.max_body_bytes}): token API answers over it are streamed "
            f"and not learned; use --set stream_large_bodies={want}"
        )
    return None


def _answered_at_headers(flow: http.HTTPFlow) -> None:
    """The answer goes out now (gateway.mitm_bodies), the body is dropped."""
    flow.metadata[ANSWERED] = True
    flow.request.stream = False
    # No "100 Continue" for a request already answered: a client that waits
    # for it never sends the body at all.
    flow.request.headers.pop("expect", None)


def _unavailable() -> http.Response:
    return make_response(responses.gateway_error())


def _refuse(flow: http.HTTPFlow) -> None:
    flow.response = _unavailable()
    flow.metadata[HANDLED] = "responded"


async def _close_quietly(runtime: Runtime) -> None:
    try:
        await runtime.close()
    except Exception:
        log.exception("logout gateway: error while closing the runtime")


class LogoutGateway:
    """mitmproxy addon. With stock mitmproxy: `-s addons/logout_gateway.py
    --set gateway_config=config.yaml`; `gateway run` passes a started runtime."""

    def __init__(self, runtime: Runtime | None = None) -> None:
        self.runtime = runtime
        # A runtime handed in (by `gateway run`) belongs to whoever started it,
        # which also closes it; one this addon starts itself, it closes (SPEC §13).
        self._preloaded = runtime is not None
        self._config: Config | None = runtime.config if runtime else None
        self._starting: asyncio.Task[None] | None = None
        self._bodies_ok = True  # set by `load` (gateway.mitm_bodies.install)

    # -- options -------------------------------------------------------------

    def load(self, loader: Any) -> None:
        loader.add_option(
            "gateway_config",
            str | None,
            None,
            "Path to the logout gateway's config.yaml.",
        )
        # Answers at the headers and capped body reads (gateway.mitm_bodies).
        self._bodies_ok = install()
        if not self._bodies_ok:
            log.error(
                "logout gateway: this mitmproxy's HTTP layer is not one the gateway "
                "supports (answers before a body, capped bodies); every request is refused"
            )

    def configure(self, updated: set[str]) -> None:
        if self._preloaded or "gateway_config" not in updated:
            return
        path = ctx.options.gateway_config
        if not path:
            return
        try:
            config = load_config(path)
        except ConfigError as exc:
            raise exceptions.OptionsError(f"gateway_config {path}:\n{exc}") from None
        self._config = config
        # Start (or swap) the runtime right away: servers accept connections
        # before the `running` hook, and requests that arrive meanwhile wait
        # for this task instead of being refused.
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: `running` starts it
        self._starting = asyncio.ensure_future(self._start(config))

    async def running(self) -> None:
        if self._preloaded:
            return
        if self._starting is None and self._config is not None:
            self._starting = asyncio.ensure_future(self._start(self._config))
        if self._starting is not None:
            await self._starting
        elif self._config is None:
            log.error("logout gateway: no gateway_config set; every request is refused")

    async def _ready(self) -> Runtime | None:
        """The runtime, once started; None if it could not start. A request that
        arrives during start-up waits here instead of being refused."""
        if self.runtime is None and self._starting is not None and not self._starting.done():
            await self._starting
        return self.runtime

    async def _start(self, config: Config) -> None:
        """Start a runtime for `config` (replacing the current one). Never raises:
        on any failure no runtime is set, so every request is answered 503."""
        old, self.runtime = self.runtime, None
        if old is not None:
            # The old runtime lets go of the audit file (one writer per file,
            # SPEC §7.1) before the new one takes it; requests meanwhile wait
            # for this task in `_ready`.
            await _close_quietly(old)
        runtime: Runtime | None = None
        try:
            runtime = await start(config)
            if config.tls.cert_file is not None:
                # Same guarantee as `gateway run`: every client gets this certificate.
                combined = write_combined_pem(config)
                ctx.options.update(certs=[f"*={combined}"], upstream_cert=False)
        except StartupError as exc:
            # errorcheck turns an error logged at start-up into a non-zero exit.
            log.error("logout gateway cannot start: %s", exc)
            return
        except Exception:
            log.exception("logout gateway cannot start; every request is refused")
            if runtime is not None:
                await _close_quietly(runtime)  # half started: its owner closes it
            return
        self.runtime = runtime
        log.info("logout gateway ready (config %s)", config.source)
        # Registered by mitmproxy's proxyserver addon (absent in a bare test master).
        setting = getattr(ctx.options, "stream_large_bodies", "")
        advice = streaming_advice(config, setting) if setting != "" else None
        if advice is not None:
            log.warning("logout gateway: %s", advice)

    async def done(self) -> None:
        if self._preloaded:
            return  # `gateway run` started it and closes it
        if self._starting is not None and not self._starting.done():
            await asyncio.wait([self._starting])
        runtime, self.runtime = self.runtime, None
        if runtime is not None:
            await _close_quietly(runtime)

    # -- hooks ---------------------------------------------------------------

    # `requestheaders` and `response` are plain functions that return a
    # coroutine only when there is work: mitmproxy awaits what a hook returns,
    # and the common case then costs no coroutine at all.
    #
    # Where the decision is taken (SPEC §9): a request whose body is declared
    # to fit `limits.max_body_bytes` (no body included) is buffered whole and
    # decided in `request`, as always, with its body (routes found by content
    # see it). Any other, whose body mitmproxy may stream (Content-Length over
    # stream_large_bodies now, or a chunked / HTTP/2 body once it passes it)
    # or that is declared over the cap, is decided in `requestheaders`, before
    # a byte of it goes upstream; an answer given there goes out at once
    # (gateway.mitm_bodies). Bodies the gateway reads are never streamed:
    # buffered up to the cap and decided in `request`, or when they pass it
    # (`logout_gateway_body_over_cap`).

    def requestheaders(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        if flow.response:
            return None
        req = flow.request
        if not req.stream:
            length = _body_length(req)
            cap = self._config.limits.max_body_bytes if self._config is not None else 0
            if length is not None and length <= cap:
                return None
        return self._at_headers(flow)

    async def _at_headers(self, flow: http.HTTPFlow) -> None:
        try:
            runtime = await self._runtime_or_refuse(flow)
            if runtime is not None:
                req = to_request(flow, with_body=False)
                cap = runtime.config.limits.max_body_bytes
                length = _body_length(flow.request)
                if runtime.gateway.needs_body(req) and (length is None or length <= cap):
                    # Logout/learning body: read, capped, never streamed past.
                    flow.request.stream = False
                    flow.metadata[BODY_CAP] = cap
                    return
                # Anything else (a body over the cap included: 413, or forwarded
                # untouched) is decided on the headers.
                await self._decide(flow, runtime, with_body=False)
        except Exception:
            log.exception("logout gateway: error in requestheaders hook")
            _refuse(flow)
        if flow.response is not None:
            _answered_at_headers(flow)

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or HANDLED in flow.metadata:
            return
        # Started (the steady state): no coroutine for the wait below.
        runtime = self.runtime if self._bodies_ok else None
        if runtime is None:
            runtime = await self._runtime_or_refuse(flow)
            if runtime is None:
                return
        await self._decide(flow, runtime, with_body=True)

    async def logout_gateway_body_over_cap(self, flow: http.HTTPFlow) -> None:
        """A body the gateway reads went past `limits.max_body_bytes`
        (gateway.mitm_bodies): decided on what arrived, which the routes see as
        too long (413), or forward untouched (learning: nothing learned)."""
        await self.request(flow)

    async def _runtime_or_refuse(self, flow: http.HTTPFlow) -> Runtime | None:
        """The started runtime; None after refusing the flow (503) when there
        is none or it cannot be used."""
        if not self._bodies_ok:
            _refuse(flow)
            return None
        try:
            runtime = await self._ready()
        except asyncio.CancelledError:
            _refuse(flow)
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this hook itself is being cancelled (shutdown)
            log.error("logout gateway: start-up was cancelled; refused the request")
            return None
        except Exception:
            # Start-up failed in a way `_start` did not expect: refuse, never
            # forward (SPEC §13).
            log.exception("logout gateway: start-up failed while a request waited")
            _refuse(flow)
            return None
        if runtime is None:
            log.error("logout gateway not ready; refused %s", flow.request.method)
            _refuse(flow)
        return runtime

    async def _decide(self, flow: http.HTTPFlow, runtime: Runtime, *, with_body: bool) -> None:
        try:
            req = to_request(flow, with_body=with_body)
        except Exception:
            log.exception("logout gateway: cannot read request")
            flow.response = _unavailable()
            return
        try:
            if runtime.config.tls.cert_file is not None and not flow.client_conn.tls_established:
                # Configured for TLS: plain HTTP on the same port is refused,
                # never served (as nginx answers plain HTTP on an HTTPS port).
                decision: Decision = responses.tls_required()
            else:
                decision = await runtime.gateway.handle_request(req)
            apply(flow, decision)
            runtime.metrics.count_decision(decision)  # a plain increment (gateway/metrics.py)
            if not (isinstance(decision, Forward) and decision.route is None):
                mark(flow, decision, runtime.gateway.route_of(req))
        except Exception:
            log.exception("logout gateway: error handling a request; answered 503")
            runtime.metrics.count_error()
            try:
                answer = await runtime.gateway.gateway_error(req, "request")
                flow.response = make_response(answer)
            except Exception:
                flow.response = _unavailable()
            flow.metadata[HANDLED] = "responded"

    def response(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        if flow.metadata.get(HANDLED) == "responded" or flow.response is None:
            return None
        runtime = self.runtime
        if runtime is None:
            return None
        try:
            # Most answers teach nothing: no session cookie set, not a token API (and
            # not a forwarded logout that waits for the upstream's answer). GET, the
            # common case, never is one.
            if "set-cookie" not in flow.response.headers and not (
                flow.request.method != "GET"
                and runtime.gateway.learns_from(flow.request.path, flow.request.method)
            ):
                return None
        except Exception:
            log.exception("logout gateway: error learning from a response; answered 503")
            flow.response = _unavailable()
            return None
        return self._learn(flow, runtime)

    async def _learn(self, flow: http.HTTPFlow, runtime: Runtime) -> None:
        try:
            if (
                flow.response is not None
                and flow.response.stream
                and flow.request.method == "POST"
                and runtime.gateway.learns_from(flow.request.path)
            ):
                # Over stream_large_bodies: it went to the client without being
                # held here, so only its headers can be learned from.
                log.warning(
                    "logout gateway: a %d answer to a POST on a token API was streamed "
                    "(over stream_large_bodies); nothing learned from its body",
                    flow.response.status_code,
                )
            await runtime.gateway.handle_response(to_request(flow), to_response(flow))
        except Exception:
            log.exception("logout gateway: error learning from a response; answered 503")
            flow.response = _unavailable()
