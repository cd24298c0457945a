"""Helpers for the IdP-facing SAML routes (issue 13): an IdP key pair, and the
messages an IdP sends — LogoutRequest / LogoutResponse in the Redirect binding
(signed over the query) or the POST binding (enveloped XML signature, made
with signxml's signer). Every value is a parameter so tests can spoil one."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from lxml import etree
from signxml import methods
from signxml.signer import XMLSigner

from gateway.saml.keys import generate_sp_keypair
from gateway.saml.redirect_binding import Signer, redirect_url

SP_ENTITY = "http://127.0.0.1:8080/"
IDP_ENTITY = "https://idp.example.com/idp"
IDP_SLO = "https://idp.example.com/idp/profile/SAML2/Redirect/SLO"
SP_SLO = "https://kibana.example.com/logout"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"


class Keys:
    """A key pair made for one test (never committed)."""

    def __init__(self, folder: Path, alg: str = "rsa", cn: str = "test IdP") -> None:
        self.key, self.cert = generate_sp_keypair(folder, alg=alg, cn=cn)
        self.sig_alg = "ecdsa-sha256" if alg == "ec" else "rsa-sha256"
        self.signer = Signer.from_pem_file(self.key, self.sig_alg)


def saml_settings(idp: Keys, sp: Keys, **extra: Any) -> dict[str, Any]:
    """The `saml` section of a gateway that trusts `idp` and signs with `sp`."""
    return {
        "sp_entity_id": SP_ENTITY,
        "idp_entity_id": IDP_ENTITY,
        "idp_slo_url": IDP_SLO,
        "sp_slo_url": SP_SLO,
        "sp_key_file": str(sp.key),
        "sp_cert_file": str(sp.cert),
        "idp_cert_file": str(idp.cert),
        **extra,
    }


def instant(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def logout_request_xml(
    *,
    now: float,
    request_id: str = "_idp-req-1",
    issuer: str | None = IDP_ENTITY,
    destination: str | None = SP_SLO,
    name_id: str = "alice@example.com",
    session_indexes: Sequence[str] = ("_sess-7",),
    not_on_or_after: float | None = None,
    prolog: str = "",
) -> bytes:
    attrs = f'ID="{request_id}" Version="2.0" IssueInstant="{instant(now)}"'
    if destination is not None:
        attrs += f' Destination="{destination}"'
    if not_on_or_after is not None:
        attrs += f' NotOnOrAfter="{instant(not_on_or_after)}"'
    parts = [
        f'{prolog}<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"'
        f' xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" {attrs}>'
    ]
    if issuer is not None:
        parts.append(f"<saml:Issuer>{issuer}</saml:Issuer>")
    parts.append(f'<saml:NameID Format="{PERSISTENT}">{name_id}</saml:NameID>')
    parts += [f"<samlp:SessionIndex>{s}</samlp:SessionIndex>" for s in session_indexes]
    parts.append("</samlp:LogoutRequest>")
    return "".join(parts).encode()


def logout_response_xml(
    *,
    now: float,
    in_response_to: str | None,
    response_id: str = "_idp-resp-1",
    issuer: str | None = IDP_ENTITY,
    destination: str | None = SP_SLO,
    status: str = SUCCESS,
) -> bytes:
    attrs = f'ID="{response_id}" Version="2.0" IssueInstant="{instant(now)}"'
    if destination is not None:
        attrs += f' Destination="{destination}"'
    if in_response_to is not None:
        attrs += f' InResponseTo="{in_response_to}"'
    issuer_xml = f"<saml:Issuer>{issuer}</saml:Issuer>" if issuer is not None else ""
    return (
        '<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"'
        f' xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" {attrs}>{issuer_xml}'
        f'<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status>'
        "</samlp:LogoutResponse>"
    ).encode()


def redirect_query(
    xml: bytes,
    signer: Signer | None,
    *,
    param: str = "SAMLRequest",
    relay_state: str | None = None,
) -> str:
    """The query an IdP redirects the browser with (what Kibana hands over)."""
    return urlsplit(
        redirect_url(SP_SLO, xml, param=param, relay_state=relay_state, signer=signer)
    ).query


def post_content(xml: bytes, keys: Keys, *, reference_uri: str | None = None) -> str:
    """base64 of `xml` with an enveloped XML signature over its root (`#ID`),
    as an IdP posts it (HTTP-POST binding)."""
    root = etree.fromstring(xml)
    signer = XMLSigner(
        method=methods.enveloped,
        signature_algorithm=keys.sig_alg,
        digest_algorithm="sha256",
        c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#",
    )
    signed = signer.sign(
        root,
        key=keys.key.read_bytes(),
        cert=keys.cert.read_text(),
        reference_uri=reference_uri or "#" + root.get("ID"),
        id_attribute="ID",
    )
    return base64.b64encode(etree.tostring(signed)).decode()


def raw_ecdsa_signature_query(query: str, keys: Keys) -> str:
    """The same query with its ECDSA signature as raw r‖s (XML-DSig style)."""
    head, _, _ = query.rpartition("&Signature=")
    key = load_pem_private_key(keys.key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(key.sign(head.encode(), ec.ECDSA(hashes.SHA256())))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    from urllib.parse import quote_plus

    return f"{head}&Signature={quote_plus(base64.b64encode(raw).decode(), safe='')}"
