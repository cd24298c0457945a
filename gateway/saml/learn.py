"""What logout needs from the SAML Response a client posts to
`POST /_security/saml/authenticate` (SPEC §5 "Learning").

The upstream has already validated the Response (signature, audience, time);
this module only extracts the NameID and SessionIndex, and refuses anything it
cannot read safely: no DTDs, no entities, bounded size (REFERENCE.md, SAML
HTTP-Redirect binding: "XML parsed with defusedxml").
"""

from __future__ import annotations

import base64
import binascii
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from gateway.saml.xml import SAML_NS, SAMLP_NS, q
from gateway.untrusted_xml import PROBLEM_WORDS, UntrustedXMLError, parse_untrusted

MAX_VALUE_CHARS = 1024
_B64_WHITESPACE = re.compile(r"[ \t\r\n]+")


@dataclass(frozen=True, slots=True)
class NameID:
    value: str
    format: str | None = None
    name_qualifier: str | None = None
    sp_name_qualifier: str | None = None


@dataclass(frozen=True, slots=True)
class SAMLIdentity:
    name_id: NameID | None
    session_index: str | None


class SAMLParseError(ValueError):
    pass


def parse_saml_response(content_b64: str, *, max_xml_bytes: int = 256 * 1024) -> SAMLIdentity:
    """NameID and SessionIndex of the Response's assertion.

    An encrypted assertion (or an EncryptedID subject) is not an error: there is
    nothing we can read, so both are None.
    """
    root = _parse(_decode(content_b64, max_xml_bytes))
    if root.tag != q(SAMLP_NS, "Response"):
        raise SAMLParseError("not a samlp:Response")
    # Only direct children of the Response are its assertions (SAML Core §3.3.3).
    assertions = [
        child
        for child in root
        if child.tag in (q(SAML_NS, "Assertion"), q(SAML_NS, "EncryptedAssertion"))
    ]
    if not assertions:
        raise SAMLParseError("Response has no assertion")
    if len(assertions) > 1:
        # Elasticsearch refuses a Response with more than one assertion, so one
        # the upstream accepted has exactly one; several is a wrapping attempt.
        raise SAMLParseError("Response has more than one assertion")
    assertion = assertions[0]
    if assertion.tag == q(SAML_NS, "EncryptedAssertion"):
        return SAMLIdentity(name_id=None, session_index=None)
    return SAMLIdentity(name_id=_name_id(assertion), session_index=_session_index(assertion))


def _decode(content_b64: str, max_xml_bytes: int) -> bytes:
    if not isinstance(content_b64, str):
        raise SAMLParseError("content is not a string")
    # Some IdPs wrap their base64 at 76 columns; nothing else may be in it.
    compact = _B64_WHITESPACE.sub("", content_b64)
    if len(compact) > (max_xml_bytes + 2) // 3 * 4:
        raise SAMLParseError(f"SAML Response larger than {max_xml_bytes} bytes")
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as e:
        raise SAMLParseError("content is not base64") from e
    if not raw:
        raise SAMLParseError("content is empty")
    if len(raw) > max_xml_bytes:
        raise SAMLParseError(f"SAML Response larger than {max_xml_bytes} bytes")
    return raw


def _parse(raw: bytes) -> ET.Element:
    try:
        return parse_untrusted(raw)
    except UntrustedXMLError as e:
        # (an unusable encoding: expat on an XML declaration naming an unknown
        # or multi-byte encoding)
        raise SAMLParseError(f"SAML Response {PROBLEM_WORDS[e.kind]}: {e.detail}") from e


def _name_id(assertion: ET.Element) -> NameID | None:
    subject = assertion.find(q(SAML_NS, "Subject"))
    if subject is None:
        return None
    elem = subject.find(q(SAML_NS, "NameID"))
    if elem is None:
        return None  # EncryptedID or BaseID: nothing logout can name
    value = _value("NameID", elem.text)
    if value is None:
        raise SAMLParseError("NameID is empty")
    return NameID(
        value=value,
        format=_value("NameID Format", elem.get("Format")),
        name_qualifier=_value("NameQualifier", elem.get("NameQualifier")),
        sp_name_qualifier=_value("SPNameQualifier", elem.get("SPNameQualifier")),
    )


def _session_index(assertion: ET.Element) -> str | None:
    statement = assertion.find(q(SAML_NS, "AuthnStatement"))
    if statement is None:
        return None
    return _value("SessionIndex", statement.get("SessionIndex"))


def _value(name: str, raw: str | None) -> str | None:
    if raw is None:
        return None
    value = raw.strip()
    if len(value) > MAX_VALUE_CHARS:
        raise SAMLParseError(f"{name} longer than {MAX_VALUE_CHARS} characters")
    return value or None
