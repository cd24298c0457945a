"""The interface every logout route family implements (see `gateway.logouts`).

Most routes are found by their path (`routes.<name>.path`). Two needs go
beyond that, and have a default here so most families ignore them:

* `claims(route, req)`: a route may own only some methods on its path (the
  token API's `DELETE` is a logout, its `POST` is the refresh grant); when it
  does not claim a request, the engine treats it as an ordinary one.
* `match(req)`: a route without a path (CAS single logout is recognised by a
  form field on any path, SPEC §10.1) looks at every request that no path
  route took. Keep it cheap: it runs on the hot path of every such request.
* `wants_answer(route, method)` / `upstream_answered(route, req, resp)`: a
  forwarded logout that may only act once the upstream agreed (the token API
  invalidating by user or realm: only the upstream knows whether the caller may)
  sees the upstream's answer. Never called for POST (the learning paths).
"""

from __future__ import annotations

from gateway.http import Decision, Request, Response


class RouteFamily:
    """Base class of a logout route family. Subclasses set `routes` and
    implement `handle`."""

    routes: tuple[str, ...] = ()  # the route names (config `routes.<name>`) it serves

    def claims(self, route: str, req: Request) -> bool:
        """Whether this request on the route's path is the route's business."""
        return True

    def match(self, req: Request) -> str | None:
        """For routes found by content rather than path: the route this request
        is, or None. Never called for requests a path route claimed."""
        return None

    def reads_body(self, route: str, req: Request) -> bool:
        """Whether handling `req` reads its body (so it must not be streamed
        past the gateway). `req.body` is None here: decided on headers."""
        return False

    async def handle(self, route: str, req: Request) -> Decision:
        raise NotImplementedError

    def wants_answer(self, route: str, method: str) -> bool:
        """Whether `upstream_answered` must see the answer to a forwarded request
        with this method on the route's path (decided before the answer is read)."""
        return False

    async def upstream_answered(self, route: str, req: Request, resp: Response) -> None:
        """The upstream answered a request this route forwarded (only called when
        `wants_answer`). Must not raise for store or audit faults: log them."""
