"""The admin server: a tornado application on `admin.listen` (SPEC §11).

Tornado is already in the dependency tree (mitmproxy's web UI uses it) and
runs on the asyncio loop the gateway already has, so the admin endpoints are
served by the gateway process itself, by a maintained HTTP implementation,
without a thread. This module only routes: each path maps to an
`AdminService` method, whose `Respond` is written back. Everything else on
this port is `404`: it never proxies.

Limits: headers ≤ 16 KiB; bodies ≤ 1 MiB at the HTTP layer (tornado closes
the connection above that, before any handler runs); the revoke endpoint
itself answers `413` above `limits.max_body_bytes`. No access log at INFO
(paths can be anything a client sends); `-v` shows them at DEBUG.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from gateway import responses
from gateway.admin.service import AdminService
from gateway.http import Respond, json_response

log = logging.getLogger("gateway")

MAX_BODY_BYTES = 1 << 20
MAX_HEADER_BYTES = 16 << 10
IDLE_SECONDS = 60.0
BODY_SECONDS = 15.0

# path → the service method answering GET on it (and the revoke endpoint)
GET_ENDPOINTS = {
    r"/": "status_page",
    r"/-/live": "live",
    r"/-/ready": "ready",
    r"/metrics": "prometheus",
    r"/-/status\.json": "status_json",
    r"/-/status\.html": "status_fragment",
}
REVOKE_PATH = r"/-/revoke"


class _Endpoint(RequestHandler):
    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")

    def initialize(self, service: AdminService, endpoint: str) -> None:
        self.service = service
        self.endpoint = endpoint

    def set_default_headers(self) -> None:
        # Only the headers the service sets: no tornado defaults, no version banner.
        self.clear_header("Server")
        self.clear_header("Content-Type")

    def compute_etag(self) -> None:
        return None  # every answer is no-store

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # Tornado's own errors (an unsupported method): JSON, never a traceback.
        self._send(json_response(status_code, {"error": self._reason}))

    async def get(self) -> None:
        await self._serve()

    async def head(self) -> None:
        await self._serve()

    async def post(self) -> None:
        await self._serve()

    async def put(self) -> None:
        await self._serve()

    async def delete(self) -> None:
        await self._serve()

    async def patch(self) -> None:
        await self._serve()

    async def options(self) -> None:
        await self._serve()

    async def _serve(self) -> None:
        try:
            answer = await self._answer()
        except Exception:
            log.exception("admin server: error answering a request; answered 503")
            answer = responses.gateway_error()
        self._send(answer)

    async def _answer(self) -> Respond:
        request, service = self.request, self.service
        method = request.method or ""
        if self.endpoint == "revoke":
            return await service.revoke(
                method=method,
                authorization=request.headers.get_list("Authorization"),
                content_encoding=request.headers.get("Content-Encoding"),
                body=request.body,
                client=request.remote_ip,
            )
        if self.endpoint == "not_found":
            return service.not_found()
        if method not in ("GET", "HEAD"):
            return json_response(405, {"error": "method_not_allowed"}, (("allow", "GET"),))
        answer: Respond = await getattr(service, self.endpoint)()
        return answer

    def _send(self, answer: Respond) -> None:
        self.set_status(answer.status)
        for name, value in answer.headers:
            self.add_header(name, value)
        self.finish(b"" if self.request.method == "HEAD" else answer.body)


def _log_request(handler: RequestHandler) -> None:
    log.debug(
        "admin %s %s -> %d (%.1f ms)",
        handler.request.method,
        handler.request.path,
        handler.get_status(),
        handler.request.request_time() * 1000,
    )


def make_app(service: AdminService) -> Application:
    routes: list[Any] = [
        (path, _Endpoint, {"service": service, "endpoint": endpoint})
        for path, endpoint in GET_ENDPOINTS.items()
    ]
    routes.append((REVOKE_PATH, _Endpoint, {"service": service, "endpoint": "revoke"}))
    return Application(
        routes,
        default_handler_class=_Endpoint,
        default_handler_args={"service": service, "endpoint": "not_found"},
        log_function=_log_request,
        compress_response=False,
        serve_traceback=False,
        xsrf_cookies=False,
    )


class AdminServer:
    """Binds at `listen()` (inside the running event loop), serves until `stop()`."""

    def __init__(self, service: AdminService, host: str, port: int) -> None:
        self.service = service
        self.host = host
        self.port = port
        self._sockets: list[socket.socket] = []
        self._server: HTTPServer | None = None

    def listen(self) -> None:
        """Bind and start serving; raises OSError (address in use, …)."""
        self._sockets = bind_sockets(self.port, address=self.host)
        self._server = HTTPServer(
            make_app(self.service),
            xheaders=False,  # the client address is the peer's, never a header's
            max_body_size=MAX_BODY_BYTES,
            max_header_size=MAX_HEADER_BYTES,
            idle_connection_timeout=IDLE_SECONDS,
            body_timeout=BODY_SECONDS,
        )
        self._server.add_sockets(self._sockets)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._sockets[0].getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.stop()  # closes the listening sockets
        await server.close_all_connections()
