"""SP metadata for the gateway's signing key (SAML Metadata §2.3.2, §2.4.4).

The IdP finds the key that verifies our LogoutRequests by the request's Issuer
(= entity_id) in the SP metadata it holds, so this document (or its
KeyDescriptor) must reach the IdP.

`gateway saml metadata` prints `sp_metadata(..., acs_url=saml.sp_acs_url)`, the
complete document; `--fragment` prints `sp_metadata_fragment(...)`, the same
EntityDescriptor without an AssertionConsumerService behind a comment that says
it is a fragment (SPEC §3).
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gateway.saml.xml import BINDING_HTTP_REDIRECT, DS_NS, MD_NS, SAMLP_NS, check_xml_text, q

BINDING_HTTP_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"

# An XML comment before the root element: allowed by XML 1.0 (§2.8 Misc), kept
# by every parser that keeps comments and ignored by the rest. No "--" in it.
FRAGMENT_COMMENT = (
    "Fragment, not complete SP metadata: it has no AssertionConsumerService, so the"
    " SAML 2.0 metadata schema and Lasso-based IdPs (mod_auth_mellon, LemonLDAP::NG)"
    " refuse it as it is. Merge its md:KeyDescriptor and md:SingleLogoutService into"
    " the md:SPSSODescriptor of the SP's own metadata (same entityID). Complete"
    " metadata needs saml.sp_acs_url, the SP's AssertionConsumerService."
)


def sp_metadata(
    *,
    entity_id: str,
    slo_url: str | None,
    cert_pem: bytes | None,
    acs_url: str | None = None,
    acs_binding: str = BINDING_HTTP_POST,
) -> bytes:
    """UTF-8 XML of an md:EntityDescriptor with one md:SPSSODescriptor.

    Children in schema order (SPSSODescriptorType): KeyDescriptor,
    SingleLogoutService, AssertionConsumerService (index 0, isDefault). The
    schema requires at least one AssertionConsumerService, and Lasso refuses an
    SP without one ("Could not find a default assertion consumer"): without
    `acs_url` (the upstream SP's, e.g. Kibana's `/api/security/saml/callback`)
    the document is only a KeyDescriptor + SingleLogoutService fragment to merge
    into the SP's own metadata, which pysaml2 still loads but a schema check
    refuses (see `sp_metadata_fragment`).
    """
    if not entity_id:
        raise ValueError("entity_id is required")
    root = ET.Element(
        q(MD_NS, "EntityDescriptor"), {"entityID": check_xml_text("entity_id", entity_id)}
    )
    sp = ET.SubElement(root, q(MD_NS, "SPSSODescriptor"), {"protocolSupportEnumeration": SAMLP_NS})
    # No AuthnRequestsSigned: the upstream SP (not this gateway) sends
    # AuthnRequests, and claiming "true" could make the IdP refuse them.
    if cert_pem is not None:
        key_descriptor = ET.SubElement(sp, q(MD_NS, "KeyDescriptor"), {"use": "signing"})
        key_info = ET.SubElement(key_descriptor, q(DS_NS, "KeyInfo"))
        x509_data = ET.SubElement(key_info, q(DS_NS, "X509Data"))
        ET.SubElement(x509_data, q(DS_NS, "X509Certificate")).text = _cert_b64(cert_pem)
    if slo_url is not None:
        ET.SubElement(
            sp,
            q(MD_NS, "SingleLogoutService"),
            {"Binding": BINDING_HTTP_REDIRECT, "Location": check_xml_text("slo_url", slo_url)},
        )
    if acs_url is not None:
        ET.SubElement(
            sp,
            q(MD_NS, "AssertionConsumerService"),
            {
                "Binding": check_xml_text("acs_binding", acs_binding),
                "Location": check_xml_text("acs_url", acs_url),
                "index": "0",
                "isDefault": "true",
            },
        )
    return ET.tostring(root, encoding="unicode").encode("utf-8")


def sp_metadata_fragment(*, entity_id: str, slo_url: str | None, cert_pem: bytes | None) -> bytes:
    """`FRAGMENT_COMMENT` then the EntityDescriptor without an
    AssertionConsumerService: the gateway's KeyDescriptor and SingleLogoutService
    with the entityID they belong to, for merging into the SP's own metadata."""
    document = sp_metadata(entity_id=entity_id, slo_url=slo_url, cert_pem=cert_pem)
    return f"<!-- {FRAGMENT_COMMENT} -->\n".encode() + document


def _cert_b64(cert_pem: bytes) -> str:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as e:
        raise ValueError("cert_pem is not a PEM certificate") from e
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")
