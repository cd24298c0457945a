"""The neutral request value the core decides on, and the decisions it returns.

Nothing here knows about mitmproxy: `gateway.mitm` converts flows to `Request`
and `Decision` back to responses, so the core is testable without a proxy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # raw path as received, without the query
    query: str  # raw query string without "?", "" when absent
    headers: Headers  # names lower-cased, order and duplicates kept
    body: bytes | None = None  # None: not read (streamed or not needed)
    client: str | None = None
    request_id: str = ""

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]


@dataclass(frozen=True, slots=True)
class Response:
    """The upstream's answer, as far as learning needs it."""

    status: int
    headers: Headers
    body: bytes | None = None

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]


@dataclass(frozen=True, slots=True)
class Respond:
    """Answer the client directly; the upstream never sees the request."""

    status: int
    headers: Headers = ()
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Forward:
    """Send the request on, optionally with a rewritten query string."""

    query: str | None = None  # None: leave the query as it is
    route: str | None = None  # the logout route that forwarded it, for the live view
    drop_headers: tuple[str, ...] = field(default=())  # request headers to remove


Decision = Respond | Forward


@dataclass(frozen=True, slots=True)
class RecordedFlow:
    """One HTTP flow of a capture, as neutral values (for `gateway replay`;
    `gateway.mitm.read_flows` makes them from a mitmproxy flow file)."""

    request: Request
    response: Response | None
    timestamp: float


FORWARD = Forward()  # the common case: send it on unchanged

NO_STORE: Headers = (("cache-control", "no-store"),)


def json_response(status: int, payload: object, headers: Headers = ()) -> Respond:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Respond(
        status=status,
        headers=(("content-type", "application/json"), *NO_STORE, *headers),
        body=body,
    )
