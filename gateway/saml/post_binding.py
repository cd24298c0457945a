"""SAML HTTP-POST binding (SAML Bindings §3.5): a base64 message whose root
element carries an enveloped XML signature (`ds:Signature`, XML-DSig).

XML-DSig is verified by signxml, a maintained library, never by hand-written
canonicalisation (SPEC §10.3). Around it:

* the decoded document is capped and first parsed with defusedxml, so a DTD or
  an entity is refused before signxml's parser (lxml) sees anything;
* the key is the pinned IdP certificate (`saml.idp_cert_file`), never one from
  the message's KeyInfo;
* the signature must sit directly under the root and cover the root itself (its
  reference is the root's ID), and the caller reads only the bytes the
  signature covers (signxml's `signed_data`), so a signed element wrapped into
  an unsigned document (signature wrapping) is never what gets read.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence

from cryptography import x509
from signxml.verifier import SignatureConfiguration, XMLVerifier

from gateway.saml.redirect_binding import SignatureError
from gateway.saml.xml import DS_NS, q
from gateway.untrusted_xml import REFUSED, UntrustedXMLError, parse_untrusted

_B64_WHITESPACE = re.compile(r"[ \t\r\n]+")
# Enveloped at the root: the Signature is a child of the root element.
_AT_ROOT = SignatureConfiguration(location="./", expect_references=1)


def decode_post_message(content_b64: str, *, max_xml_bytes: int) -> bytes:
    """The XML of a POST-binding `content` value, size-capped; SignatureError if
    it is not base64 or too large."""
    compact = _B64_WHITESPACE.sub("", content_b64)
    if len(compact) > (max_xml_bytes + 2) // 3 * 4:
        raise SignatureError(f"message larger than {max_xml_bytes} bytes")
    try:
        xml = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("content is not base64") from exc
    if not xml:
        raise SignatureError("content is empty")
    return xml


def verify_enveloped(xml: bytes, certificates: Sequence[x509.Certificate]) -> bytes:
    """The canonical bytes the root's enveloped signature covers, verified with
    one of `certificates`. Raises SignatureError on anything else: no signature,
    a signature by another key, SHA-1, a reference to anything but the root,
    DTDs or entities."""
    try:
        root = parse_untrusted(xml)
    except UntrustedXMLError as exc:
        if exc.kind == REFUSED:
            raise SignatureError(f"message refused: {exc.detail}") from exc
        raise SignatureError("message is not well-formed XML") from exc
    root_id = root.get("ID")
    if not root_id:
        raise SignatureError("message has no ID")
    if root.find(q(DS_NS, "Signature")) is None:
        raise SignatureError("message is not signed")
    error = SignatureError("no IdP certificate configured")
    for cert in certificates:
        try:
            result = XMLVerifier().verify(xml, x509_cert=cert, expect_config=_AT_ROOT)
        except Exception as exc:  # signxml/lxml raise many types; any failure is a refusal
            # signxml's messages name the check, never key material ("Signature
            # method RSA_SHA1 forbidden by configuration", "Digest mismatch …").
            why = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            error = SignatureError(f"XML signature does not verify ({why})")
            continue
        if isinstance(result, list):  # expect_references=1 returns one result
            raise SignatureError("more than one signature reference")
        signed: bytes = result.signed_data
        break
    else:
        raise error
    try:
        covered = parse_untrusted(signed)
    except UntrustedXMLError as exc:
        raise SignatureError("signed part is not readable") from exc
    if covered.tag != root.tag or covered.get("ID") != root_id:
        raise SignatureError("the signature does not cover the message root")
    return signed
