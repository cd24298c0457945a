"""Request bodies in mitmproxy's HTTP layer, the way the gateway needs them
(SPEC §9). Part of the mitmproxy adapter (with `gateway.mitm`): the only other
module that touches mitmproxy's internals.

mitmproxy 11.0 streams a body when `stream_large_bodies` says so (by
Content-Length at the headers, or once a chunked body has buffered past it),
and otherwise buffers it whole. Two things the gateway needs are not in it:

* **Answering at the headers.** A request carrying a revoked credential is
  refused before a byte of its body goes upstream. mitmproxy can only answer a
  request after reading its whole body (and raises "Can't set a response and
  enable streaming at the same time" if streaming was on): a 100 MB upload
  would be buffered, or the connection dropped without an answer. Here, a flow
  the gateway answered in `requestheaders` gets its answer at once (HTTP/1:
  with `Connection: close`), and the rest of its body is read and dropped,
  never buffered and never sent upstream.
* **Capped reading.** Logout and learning routes read their bodies, at most
  `limits.max_body_bytes`. mitmproxy would keep buffering a chunked body past
  that, and then start streaming it upstream on its own. Here, a flow marked
  with `BODY_CAP` is buffered up to the cap only; past it the gateway decides
  on what it has (hook `logout_gateway_body_over_cap`): an answer (413) is sent
  at once and the rest dropped, a forward streams the body on untouched.

Both apply only to flows the gateway marked (`ANSWERED` / `BODY_CAP` in
`flow.metadata`); every other flow goes through mitmproxy's own code.

One more, for every flow: **framing HTTP/2 bodies for an HTTP/1 upstream.**
An HTTP/2 (or /3) request needs no Content-Length; mitmproxy 11.0 forwards
such a body to an HTTP/1 upstream with neither Content-Length nor
Transfer-Encoding, so the upstream reads a body-less request followed by the
body as further requests: a request smuggled past every check of the gateway.
`GatewayHttp1Client` sends such a body chunked.

The subclasses replace `HttpStream` and `Http1Client` in mitmproxy's HTTP layer
module, which looks them up each time it builds one (`install()`, called when
the addon loads).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

from mitmproxy import http
from mitmproxy.proxy import commands
from mitmproxy.proxy.layers import http as http_layer
from mitmproxy.proxy.layers.http import DropStream, HttpStream, SendHttp
from mitmproxy.proxy.layers.http._events import (
    RequestData,
    RequestEndOfMessage,
    RequestHeaders,
    RequestTrailers,
    ResponseEndOfMessage,
)
from mitmproxy.proxy.layers.http._hooks import HttpResponseHeadersHook
from mitmproxy.proxy.layers.http._http1 import Http1Client
from mitmproxy.proxy.utils import expect

# flow.metadata keys the addon sets and this layer reads.
ANSWERED = "logout_gateway.answered_at_headers"  # flow.response was set in requestheaders
BODY_CAP = "logout_gateway.body_cap"  # int: buffer at most this many body bytes
OVER_CAP = "logout_gateway.body_over_cap"  # set when the body went past BODY_CAP

# The HttpStream methods this module builds on; checked by `install`.
_RELIES_ON = (
    "state_wait_for_request_headers",
    "state_consume_request_body",
    "state_stream_request_body",
    "state_done",
    "start_request_stream",
    "send_response",
    "check_killed",
    "request_body_buf",
)


@dataclass
class BodyOverCapHook(commands.StartHook):
    """A body the gateway reads went past its cap: decide on what arrived (more
    than the cap, in `flow.request.raw_content`). Answer by setting
    `flow.response`; leave it unset to forward the body, streamed."""

    name: ClassVar[str] = "logout_gateway_body_over_cap"
    flow: http.HTTPFlow


class GatewayHttpStream(HttpStream):
    @expect(RequestHeaders)
    def state_wait_for_request_headers(self, event: RequestHeaders) -> Any:
        yield from super().state_wait_for_request_headers(event)
        if (
            not event.end_stream
            and self.client_state == self.state_consume_request_body
            and self.flow.response is not None
            and self.flow.metadata.get(ANSWERED)
        ):
            # The gateway answered at the headers and a body is to come: answer
            # now rather than after buffering the whole body.
            yield from self._answer_now()

    def start_request_stream(self) -> Any:
        if self.flow.response is not None and self.flow.metadata.get(ANSWERED):
            # Answered at the headers while mitmproxy meant to stream the body
            # (Content-Length over stream_large_bodies): mitmproxy would raise.
            self.client_state = self.state_consume_request_body
            return
        yield from super().start_request_stream()

    @expect(RequestData, RequestTrailers, RequestEndOfMessage)
    def state_consume_request_body(self, event: Any) -> Any:
        cap = self.flow.metadata.get(BODY_CAP)
        if cap is None or not isinstance(event, RequestData):
            yield from super().state_consume_request_body(event)
            return
        # Not mitmproxy's own check_body_size: it would stream this body
        # upstream once it passed stream_large_bodies, before any decision.
        self.request_body_buf += event.data
        if len(self.request_body_buf) > cap:
            yield from self._over_cap()

    def _over_cap(self) -> Any:
        flow = self.flow
        del flow.metadata[BODY_CAP]
        flow.metadata[OVER_CAP] = True
        buffered = bytes(self.request_body_buf)
        self.request_body_buf.clear()
        flow.request.data.content = buffered  # what arrived: more than the cap
        yield BodyOverCapHook(flow)
        flow.request.data.content = None
        if (yield from self.check_killed(True)):
            return
        if flow.response is not None:
            yield from self._answer_now()
            return
        # Forwarded: the body goes on untouched, from its first byte, streamed.
        flow.request.stream = True
        yield from super().start_request_stream()
        if self.client_state == self.state_stream_request_body:
            yield from self.state_stream_request_body(RequestData(self.stream_id, buffered))

    def _answer_now(self) -> Any:
        """Send `flow.response` now; read and drop the rest of the request body."""
        response = self.flow.response
        assert response is not None
        self.client_state = self.state_discard_request_body
        if not (self.flow.request.is_http2 or self.flow.request.is_http3):
            # The client may still be sending; it must not reuse this
            # connection for another request (RFC 9112 §9.6).
            response.headers["connection"] = "close"
        response.timestamp_start = time.time()
        yield HttpResponseHeadersHook(self.flow)
        if (yield from self.check_killed(True)):
            return
        yield from self.send_response()
        if self.server_state == self.state_done:
            # A complete answer now (HTTP/2: END_STREAM), not after the body.
            yield SendHttp(ResponseEndOfMessage(self.stream_id), self.context.client)

    @expect(RequestData, RequestTrailers, RequestEndOfMessage)
    def state_discard_request_body(self, event: Any) -> Any:
        if not isinstance(event, RequestEndOfMessage):
            return  # dropped: never buffered, never sent upstream
        self.flow.request.timestamp_end = time.time()
        self.client_state = self.state_done
        self.flow.live = False
        yield DropStream(self.stream_id)


class GatewayHttp1Client(Http1Client):
    def send(self, event: Any) -> Any:
        if (
            isinstance(event, RequestHeaders)
            and not event.end_stream
            and (event.request.is_http2 or event.request.is_http3)
            and "content-length" not in event.request.headers
            and "transfer-encoding" not in event.request.headers
        ):
            # A body of unknown length: chunked (Http1Client then frames every
            # piece and the end, as it does for a chunked HTTP/1 request).
            request = event.request.copy()
            request.headers["transfer-encoding"] = "chunked"
            event = RequestHeaders(event.stream_id, request, event.end_stream, event.replay_flow)
        yield from super().send(event)


def install() -> bool:
    """Make mitmproxy's HTTP layer build `GatewayHttpStream`s and
    `GatewayHttp1Client`s. False (and nothing changed) if this mitmproxy's
    classes are not the ones this module was written against."""
    stream_cls, client_cls = http_layer.HttpStream, getattr(http_layer, "Http1Client", None)
    if stream_cls is GatewayHttpStream and client_cls is GatewayHttp1Client:
        return True
    if (
        stream_cls is not HttpStream
        or client_cls is not Http1Client
        or not all(
            hasattr(HttpStream, name) or name in HttpStream.__annotations__ for name in _RELIES_ON
        )
        or not hasattr(Http1Client, "send")
    ):
        return False
    # The layer module looks the classes up by name each time it builds one.
    setattr(http_layer, "HttpStream", GatewayHttpStream)  # noqa: B010
    setattr(http_layer, "Http1Client", GatewayHttp1Client)  # noqa: B010
    return True
