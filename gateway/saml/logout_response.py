"""The SP's `samlp:LogoutResponse` to an IdP-initiated LogoutRequest (SAML Core
§3.7.2; SPEC §10.2), sent back with the HTTP-Redirect binding."""

from __future__ import annotations

from datetime import datetime
from xml.sax.saxutils import escape, quoteattr

from gateway.saml.logout_request import saml_instant
from gateway.saml.slo_messages import SUCCESS
from gateway.saml.xml import SAML_NS, SAMLP_NS, check_xml_text

_ATTR_ESCAPES = {"\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}


def logout_response_xml(
    *,
    response_id: str,
    issue_instant: datetime,
    destination: str,
    issuer: str,
    in_response_to: str,
    status: str = SUCCESS,
) -> bytes:
    """UTF-8 XML (no declaration), children in schema order: Issuer, Status
    (saml-schema-protocol-2.0.xsd StatusResponseType)."""
    attrs = {
        "ID": response_id,
        "Version": "2.0",
        "IssueInstant": saml_instant(issue_instant),
        "Destination": check_xml_text("destination", destination),
        # The IdP's request ID, as it sent it (escaped, never interpreted).
        "InResponseTo": check_xml_text("InResponseTo", in_response_to),
    }
    rendered = "".join(f" {k}={quoteattr(v, _ATTR_ESCAPES)}" for k, v in attrs.items())
    return (
        f'<samlp:LogoutResponse xmlns:samlp="{SAMLP_NS}" xmlns:saml="{SAML_NS}"{rendered}>'
        f"<saml:Issuer>{escape(check_xml_text('issuer', issuer))}</saml:Issuer>"
        f"<samlp:Status><samlp:StatusCode Value={quoteattr(status)}/></samlp:Status>"
        "</samlp:LogoutResponse>"
    ).encode()
