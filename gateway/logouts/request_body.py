"""Reading the Elasticsearch-style JSON body of a logout route: one way for
every route that takes one (saml_logout, oidc_logout, token_invalidate,
saml_invalidate, saml_complete).

413 over `limits.max_body_bytes`, 415 for any Content-Encoding (never
decompressed), 400 for what the route's parser refuses — each answered
Elasticsearch-style and audited (SPEC §7.1: every answer on a logout route is).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from gateway import responses
from gateway.bodies import body_problem
from gateway.es_bodies import EsBodyError
from gateway.http import Request, Respond
from gateway.logouts.kit import LogoutKit

Body = TypeVar("Body")


class BodyRefused(Exception):
    """The body could not be read; `answer` is the (audited) refusal."""

    def __init__(self, answer: Respond) -> None:
        super().__init__(answer.status)
        self.answer = answer


async def read_body(
    kit: LogoutKit, req: Request, route: str, parse: Callable[[bytes | None], Body]
) -> Body:
    """The parsed body; raises BodyRefused with the audited 400/413/415 answer."""
    try:
        problem = body_problem(req, kit.config.limits.max_body_bytes)
        if problem is not None:
            raise problem
        return parse(req.body)
    except EsBodyError as exc:
        refusal = responses.es_error(exc.status, exc.error_type, exc.reason)
        raise BodyRefused(await kit.invalid_request(req, route, refusal, exc.reason)) from None
