"""The IdP's single-logout messages the gateway receives (SPEC §10.2, §10.3):
a `samlp:LogoutRequest` (IdP-initiated logout) and a `samlp:LogoutResponse`
(the answer to a LogoutRequest the gateway issued), and the checks every such
message passes after its signature verified (REFERENCE "SAML HTTP-Redirect
binding": exact Destination, Issuer = the IdP, time with clock skew).

Parsing only reads what the checks and the revocation need; defusedxml refuses
DTDs and entities, and the caller caps the size before anything is parsed.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.saml.learn import NameID
from gateway.saml.xml import SAML_NS, SAMLP_NS, q
from gateway.untrusted_xml import PROBLEM_WORDS, REFUSED, UntrustedXMLError, parse_untrusted

SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
MAX_XML_BYTES = 64 * 1024
MAX_VALUE_CHARS = 1024
MAX_SESSION_INDEXES = 16
# How long after its IssueInstant a message is accepted (plus the clock skew)
# when it carries no NotOnOrAfter of its own. A logout message crosses one
# browser redirect; five minutes is the lifetime pysaml2 and Shibboleth give theirs.
MESSAGE_LIFETIME = 300.0
_XS_DATETIME = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?"
)


class SAMLMessageError(ValueError):
    """The message is refused; the text says why (safe to log, audit and answer)."""


@dataclass(frozen=True, slots=True)
class IdpLogoutRequest:
    id: str
    issue_instant: float
    not_on_or_after: float | None
    destination: str | None
    issuer: str | None
    name_id: NameID
    session_indexes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IdpLogoutResponse:
    id: str
    in_response_to: str | None
    issue_instant: float
    destination: str | None
    issuer: str | None
    status: str  # the top-level StatusCode
    sub_status: str | None  # the second-level one, if any

    @property
    def not_on_or_after(self) -> float | None:
        return None  # a StatusResponse has none (SAML Core §3.2.2)

    def status_text(self) -> str:
        return self.status + (f" / {self.sub_status}" if self.sub_status else "")


def parse_instant(text: str | None, name: str) -> float:
    """xs:dateTime as SAML senders write it: `Z` or an offset, any fraction of a
    second (cut to microseconds, never rounded up); no zone means UTC (SAML Core
    §1.3.3)."""
    if not text:
        raise SAMLMessageError(f"{name} is missing")
    match = _XS_DATETIME.fullmatch(text.strip())
    if match is None:
        raise SAMLMessageError(f"{name} is not an xs:dateTime")
    base, fraction, zone = match.groups()
    try:
        moment = datetime.fromisoformat(base + (fraction or "")[:7] + (zone or ""))
    except ValueError:
        raise SAMLMessageError(f"{name} is not an xs:dateTime") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_logout_request(xml: bytes) -> IdpLogoutRequest:
    root = _parse(xml, "LogoutRequest")
    name_ids = [child for child in root if child.tag == q(SAML_NS, "NameID")]
    if any(child.tag in (q(SAML_NS, "EncryptedID"), q(SAML_NS, "BaseID")) for child in root):
        raise SAMLMessageError("LogoutRequest names its subject in a form this gateway cannot read")
    if len(name_ids) != 1:
        raise SAMLMessageError("LogoutRequest must carry exactly one NameID")
    elem = name_ids[0]
    value = _value("NameID", elem.text)
    if value is None:
        raise SAMLMessageError("NameID is empty")
    indexes = [
        v
        for child in root
        if child.tag == q(SAMLP_NS, "SessionIndex")
        and (v := _value("SessionIndex", child.text)) is not None
    ]
    if len(indexes) > MAX_SESSION_INDEXES:
        raise SAMLMessageError(f"more than {MAX_SESSION_INDEXES} SessionIndex values")
    not_on_or_after = root.get("NotOnOrAfter")
    return IdpLogoutRequest(
        id=_id(root),
        issue_instant=parse_instant(root.get("IssueInstant"), "IssueInstant"),
        not_on_or_after=(
            parse_instant(not_on_or_after, "NotOnOrAfter") if not_on_or_after is not None else None
        ),
        destination=_value("Destination", root.get("Destination")),
        issuer=_issuer(root),
        name_id=NameID(
            value=value,
            format=_value("NameID Format", elem.get("Format")),
            name_qualifier=_value("NameQualifier", elem.get("NameQualifier")),
            sp_name_qualifier=_value("SPNameQualifier", elem.get("SPNameQualifier")),
        ),
        session_indexes=tuple(dict.fromkeys(indexes)),
    )


def parse_logout_response(xml: bytes) -> IdpLogoutResponse:
    root = _parse(xml, "LogoutResponse")
    code = root.find(f"{q(SAMLP_NS, 'Status')}/{q(SAMLP_NS, 'StatusCode')}")
    status = _value("StatusCode", code.get("Value")) if code is not None else None
    if code is None or status is None:
        raise SAMLMessageError("LogoutResponse has no StatusCode")
    sub = code.find(q(SAMLP_NS, "StatusCode"))
    return IdpLogoutResponse(
        id=_id(root),
        in_response_to=_value("InResponseTo", root.get("InResponseTo")),
        issue_instant=parse_instant(root.get("IssueInstant"), "IssueInstant"),
        destination=_value("Destination", root.get("Destination")),
        issuer=_issuer(root),
        status=status,
        sub_status=_value("StatusCode", sub.get("Value")) if sub is not None else None,
    )


def check_message(
    msg: IdpLogoutRequest | IdpLogoutResponse,
    *,
    idp_entity_id: str,
    sp_slo_url: str | None,
    now: float,
    clock_skew: float,
) -> None:
    """What every IdP message must satisfy once its signature verified. Raises
    SAMLMessageError naming the first check that fails."""
    # SAML Core §3.2.2: a signed message MUST carry its Issuer.
    if msg.issuer is None:
        raise SAMLMessageError("message has no Issuer")
    if msg.issuer != idp_entity_id:
        raise SAMLMessageError("Issuer is not the configured IdP (saml.idp_entity_id)")
    # SAML Bindings §3.4.5.2: a signed message carries the Destination it was sent
    # to; it must be our SLO endpoint, compared exactly (REFERENCE).
    if sp_slo_url is not None and msg.destination != sp_slo_url:
        raise SAMLMessageError("Destination is not this SP's SLO URL (saml.sp_slo_url)")
    if msg.issue_instant > now + clock_skew:
        raise SAMLMessageError("IssueInstant is in the future")
    if now > msg.issue_instant + MESSAGE_LIFETIME + clock_skew:
        raise SAMLMessageError("message has expired (IssueInstant too old)")
    if msg.not_on_or_after is not None and now >= msg.not_on_or_after + clock_skew:
        raise SAMLMessageError("message has expired (NotOnOrAfter)")


def replay_window_end(msg: IdpLogoutRequest | IdpLogoutResponse, clock_skew: float) -> float:
    """Until when a message ID must be remembered: after that the time checks
    refuse the message anyway, so the replay cache stays bounded."""
    return msg.issue_instant + MESSAGE_LIFETIME + clock_skew + 1.0


def _parse(xml: bytes, expected: str) -> ET.Element:
    if len(xml) > MAX_XML_BYTES:
        raise SAMLMessageError(f"{expected} larger than {MAX_XML_BYTES} bytes")
    try:
        root = parse_untrusted(xml)
    except UntrustedXMLError as exc:
        # The class name says which construct a refused document used; expat's
        # position text is left out of what goes back to the sender.
        detail = f": {exc.detail}" if exc.kind == REFUSED else ""
        raise SAMLMessageError(f"{expected} {PROBLEM_WORDS[exc.kind]}{detail}") from exc
    if root.tag != q(SAMLP_NS, expected):
        raise SAMLMessageError(f"not a samlp:{expected}")
    if root.get("Version") != "2.0":
        raise SAMLMessageError(f"{expected} Version is not 2.0")
    return root


def _id(root: ET.Element) -> str:
    value = _value("ID", root.get("ID"))
    if value is None:
        raise SAMLMessageError("message has no ID")
    return value


def _issuer(root: ET.Element) -> str | None:
    elem = root.find(q(SAML_NS, "Issuer"))
    return _value("Issuer", elem.text) if elem is not None else None


def _value(name: str, raw: str | None) -> str | None:
    if raw is None:
        return None
    value = raw.strip()
    if len(value) > MAX_VALUE_CHARS:
        raise SAMLMessageError(f"{name} longer than {MAX_VALUE_CHARS} characters")
    return value or None
