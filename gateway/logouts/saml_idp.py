"""What the two IdP-facing SAML routes share (`saml_invalidate`, SPEC §10.2;
`saml_complete`, §10.3): reading the ES-style body, refusing like
Elasticsearch's SAML realm does, and one-time message IDs across replicas."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import TypeVar

from gateway import responses
from gateway.bodies import body_problem
from gateway.es_bodies import EsBodyError
from gateway.http import Request, Respond
from gateway.logouts.kit import LogoutKit

log = logging.getLogger("gateway")

Body = TypeVar("Body")


class BodyRefused(Exception):
    """The body could not be read; `answer` is the (audited) refusal."""

    def __init__(self, answer: Respond) -> None:
        super().__init__(answer.status)
        self.answer = answer


async def read_body(
    kit: LogoutKit, req: Request, route: str, parse: Callable[[bytes | None], Body]
) -> Body:
    """The parsed body; raises BodyRefused with a 400/413/415 ES-style answer
    (audited: every answer on a logout route is, SPEC §7.1)."""
    try:
        problem = body_problem(req, kit.config.limits.max_body_bytes)
        if problem is not None:
            raise problem
        return parse(req.body)
    except EsBodyError as exc:
        refusal = responses.es_error(exc.status, exc.error_type, exc.reason)
        raise BodyRefused(await kit.invalid_request(req, route, refusal, exc.reason)) from None


async def refuse(kit: LogoutKit, req: Request, route: str, why: str) -> Respond:
    """401 `security_exception`, as Elasticsearch refuses a SAML message it
    cannot accept; audited as `invalid_request` with why; nothing revoked."""
    log.warning("%s refused a SAML message from %s: %s", route, req.client, why)
    answer = responses.es_error(401, "security_exception", why)
    return await kit.invalid_request(req, route, answer, why)


def once_key(*parts: str) -> str:
    """A bounded store key for a one-time message ID (IDs are the sender's, of
    any length up to the parser's cap)."""
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()
