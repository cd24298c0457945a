"""What the two IdP-facing SAML routes share (`saml_invalidate`, SPEC §10.2;
`saml_complete`, §10.3): refusing like Elasticsearch's SAML realm does, and
one-time message IDs across replicas. (Their bodies are read with
`gateway.logouts.request_body`, like every logout route's.)"""

from __future__ import annotations

import hashlib
import logging

from gateway import responses
from gateway.http import Request, Respond
from gateway.logouts.kit import LogoutKit

log = logging.getLogger("gateway")


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
