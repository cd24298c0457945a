"""CAS single-logout messages (SPEC §10.1; CAS Protocol 3.0 §2.3.3, Apereo CAS
"Logout & Single Sign-out").

* Back-channel: the CAS server POSTs `application/x-www-form-urlencoded` with a
  field `logoutRequest` holding a `samlp:LogoutRequest` whose
  `samlp:SessionIndex` is the service ticket.
* Front-channel: the browser GETs `?logoutRequest=<base64 of the DEFLATEd
  XML>&callback=<JSONP name>`.

Lenient on shape, as real servers need (REFERENCE "Second round"): no Issuer,
an empty or `@NOT_USED@` NameID, `IssueInstant` with microseconds and `+00:00`,
an ID starting with a digit, SessionIndex in any namespace — none of that is
checked, only the SessionIndex text is read (java-cas-client's
`SingleSignOutHandler` does the same). No freshness check: the ticket itself is
the secret, and the source is what is checked strictly. Strict on safety: no
DTD or entities (defusedxml), inflated and parsed sizes capped, a bounded
number of tickets.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qsl

from gateway.saml.redirect_binding import inflate_b64
from gateway.untrusted_xml import PROBLEM_WORDS, UntrustedXMLError, parse_untrusted

FIELD = "logoutRequest"
MAX_XML_BYTES = 64 * 1024
MAX_TICKETS = 16  # SessionIndex values in one message (CAS sends one)
MAX_TICKET_CHARS = 512
# SPEC §10.1: the JSONP callback name; anything else could be script.
_CALLBACK = re.compile(r"[A-Za-z0-9_.$]{1,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class CasSloError(ValueError):
    """The message cannot be read; the text says why (safe to log and audit)."""


def form_values(data: str, name: str = FIELD) -> list[str] | None:
    """Every value of field `name` in a form-encoded string (a POST body decoded
    as Latin-1, or a query), names compared after decoding as a servlet
    container does. None when the field is absent."""
    if name not in data and "%" not in data:
        return None  # the common case, without parsing
    try:
        pairs = parse_qsl(data, keep_blank_values=True, encoding="utf-8", errors="replace")
    except ValueError:
        return None
    values = [value for key, value in pairs if key == name]
    return values or None


def valid_callback(name: str) -> bool:
    return _CALLBACK.fullmatch(name) is not None


def tickets_from_xml(xml: bytes) -> tuple[str, ...]:
    """The SessionIndex values (service tickets) of a CAS LogoutRequest."""
    if len(xml) > MAX_XML_BYTES:
        raise CasSloError(f"logoutRequest larger than {MAX_XML_BYTES} bytes")
    try:
        root = parse_untrusted(xml)
    except UntrustedXMLError as exc:
        raise CasSloError(f"logoutRequest {PROBLEM_WORDS[exc.kind]}: {exc.detail}") from exc
    if _local(root.tag) != "LogoutRequest":
        raise CasSloError("logoutRequest is not a LogoutRequest")
    tickets: list[str] = []
    for elem in root.iter():
        if _local(elem.tag) != "SessionIndex":
            continue
        ticket = (elem.text or "").strip()
        if not ticket:
            continue
        if len(ticket) > MAX_TICKET_CHARS or _CONTROL.search(ticket):
            raise CasSloError("SessionIndex is not a ticket")
        tickets.append(ticket)
        if len(tickets) > MAX_TICKETS:
            raise CasSloError(f"more than {MAX_TICKETS} SessionIndex values")
    if not tickets:
        raise CasSloError("logoutRequest names no SessionIndex")
    return tuple(dict.fromkeys(tickets))


def back_channel_tickets(value: str) -> tuple[str, ...]:
    """The tickets of a back-channel `logoutRequest` field (the XML itself)."""
    return tickets_from_xml(value.encode("utf-8"))


def front_channel_tickets(value: str) -> tuple[str, ...]:
    """The tickets of a front-channel `logoutRequest` parameter: base64 of the
    DEFLATEd XML (raw DEFLATE or zlib-wrapped, as Java's `Deflater` writes it),
    or the XML itself when it already holds a SessionIndex (as java-cas-client
    accepts it)."""
    if "SessionIndex" in value:
        return back_channel_tickets(value)
    # A `+` the sender did not escape arrives as a space; base64 has no spaces.
    compact = value.strip().replace(" ", "+")
    try:
        xml = inflate_b64(compact, max_bytes=MAX_XML_BYTES, wbits=_wbits(compact))
    except ValueError as exc:
        raise CasSloError(f"front-channel logoutRequest: {exc}") from exc
    return tickets_from_xml(xml)


def _wbits(b64: str) -> int:
    """15 for a zlib header (CMF 0x78, header checksum), else -15 (raw DEFLATE)."""
    head = b64[:4]
    try:
        first = base64.b64decode(head + "=" * (-len(head) % 4))[:2]
    except ValueError:
        return -15
    if len(first) == 2 and first[0] == 0x78 and (first[0] * 256 + first[1]) % 31 == 0:
        return 15
    return -15


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
