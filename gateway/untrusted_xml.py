"""Parsing XML that anyone can send (SAML and CAS messages): one place for the
defusedxml settings.

No DTD, no entity declaration, no external reference: a document with any of
them is refused before a single entity is expanded (billion laughs, XXE). The
three ways a document fails are told apart, so each caller can word its own
answer.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import defusedxml
import defusedxml.ElementTree as DET

__all__ = [
    "BAD_ENCODING",
    "MALFORMED",
    "PROBLEM_WORDS",
    "REFUSED",
    "UntrustedXMLError",
    "parse_untrusted",
]

REFUSED = "refused"  # a DTD, entity declaration or external reference
MALFORMED = "malformed"  # not well-formed XML
BAD_ENCODING = "encoding"  # an XML declaration expat cannot use


# How the callers word each kind after the document's name.
PROBLEM_WORDS = {
    REFUSED: "refused",
    MALFORMED: "is not well-formed XML",
    BAD_ENCODING: "has an unusable encoding",
}


class UntrustedXMLError(ValueError):
    """`kind` is REFUSED, MALFORMED or BAD_ENCODING; `detail` the parser's own
    words (never the document's content: the defusedxml exception's class name,
    expat's position text, or the decoding error's class name)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


def parse_untrusted(data: bytes) -> ET.Element:
    try:
        root: ET.Element = DET.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DefusedXmlException as exc:
        raise UntrustedXMLError(REFUSED, type(exc).__name__) from exc
    except ET.ParseError as exc:
        raise UntrustedXMLError(MALFORMED, str(exc)) from exc
    except (LookupError, ValueError) as exc:
        raise UntrustedXMLError(BAD_ENCODING, type(exc).__name__) from exc
    return root
