"""Request bodies the gateway must read itself (logout and learning routes).

Only those are read, capped at `limits.max_body_bytes` and never decompressed:
an encoded or oversized body is refused (413/415, SPEC §6.3) instead of being
inflated without bound or waved through unchecked.
"""

from __future__ import annotations

from gateway.es_bodies import EsBodyError
from gateway.http import Request


def body_problem(req: Request, max_bytes: int) -> EsBodyError | None:
    """413/415 for a body the gateway must read but may not; None: readable."""
    if req.header("content-encoding"):
        return EsBodyError(
            415, "illegal_argument_exception", "Content-Encoding is not accepted on this API"
        )
    length = req.header("content-length")
    too_long = len(req.body or b"") > max_bytes
    if length is not None and length.strip().isdigit() and int(length) > max_bytes:
        too_long = True
    if too_long:
        return EsBodyError(
            413, "content_too_long_exception", f"request body is larger than {max_bytes} bytes"
        )
    return None
