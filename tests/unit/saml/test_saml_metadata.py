import base64
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.mdstore import MetadataStore

from gateway import cli
from gateway.saml.metadata import FRAGMENT_COMMENT, sp_metadata, sp_metadata_fragment

MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
ENTITY = "https://sp.example.com/"
SLO = "https://gateway.example.com/saml/slo"
ACS = "https://kibana.example.com/api/security/saml/callback"


def test_structure(sp_rsa):
    cert_pem = sp_rsa.cert.read_bytes()
    root = ET.fromstring(sp_metadata(entity_id=ENTITY, slo_url=SLO, cert_pem=cert_pem))
    assert root.tag == MD + "EntityDescriptor" and root.get("entityID") == ENTITY
    (sp,) = root
    assert sp.tag == MD + "SPSSODescriptor"
    assert sp.get("protocolSupportEnumeration") == "urn:oasis:names:tc:SAML:2.0:protocol"
    assert "AuthnRequestsSigned" not in sp.attrib  # the upstream SP sends AuthnRequests
    assert [c.tag for c in sp] == [MD + "KeyDescriptor", MD + "SingleLogoutService"]
    key_descriptor, slo = sp
    assert key_descriptor.get("use") == "signing"
    der = base64.b64decode(key_descriptor.findtext(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate"))
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert der == cert.public_bytes(serialization.Encoding.DER)
    assert slo.attrib == {"Binding": BINDING_HTTP_REDIRECT, "Location": SLO}


def test_structure_with_acs(sp_rsa):
    document = sp_metadata(
        entity_id=ENTITY, slo_url=SLO, cert_pem=sp_rsa.cert.read_bytes(), acs_url=ACS
    )
    (sp,) = ET.fromstring(document)
    assert [c.tag for c in sp] == [
        MD + "KeyDescriptor",
        MD + "SingleLogoutService",
        MD + "AssertionConsumerService",
    ]
    assert sp[2].attrib == {
        "Binding": BINDING_HTTP_POST,
        "Location": ACS,
        "index": "0",
        "isDefault": "true",
    }


def test_without_cert_or_slo():
    root = ET.fromstring(sp_metadata(entity_id=ENTITY, slo_url=None, cert_pem=None))
    (sp,) = root
    assert len(sp) == 0 and "AuthnRequestsSigned" not in sp.attrib


def test_bad_cert_is_refused():
    with pytest.raises(ValueError, match="PEM certificate"):
        sp_metadata(entity_id=ENTITY, slo_url=None, cert_pem=b"not a cert")
    with pytest.raises(ValueError, match="entity_id"):
        sp_metadata(entity_id="", slo_url=None, cert_pem=None)


@pytest.mark.parametrize("keys", ["sp_rsa", "sp_ec"])
def test_valid_against_metadata_schema(metadata_schema, keys, request):
    cert_pem = request.getfixturevalue(keys).cert.read_bytes()
    document = sp_metadata(entity_id=ENTITY, slo_url=SLO, cert_pem=cert_pem, acs_url=ACS)
    metadata_schema.validate(document.decode())
    # the minimal complete document: no certificate, no SLO, only the ACS
    minimal = sp_metadata(entity_id=ENTITY, slo_url=None, cert_pem=None, acs_url=ACS)
    metadata_schema.validate(minimal.decode())


def test_without_acs_it_is_a_fragment_the_schema_refuses(metadata_schema, sp_rsa):
    # md:SPSSODescriptor requires an AssertionConsumerService; the upstream SP
    # (Kibana/Elasticsearch) owns that URL, so without acs_url the document is
    # only the KeyDescriptor + SLO part to merge into the SP's metadata.
    document = sp_metadata(entity_id=ENTITY, slo_url=SLO, cert_pem=sp_rsa.cert.read_bytes())
    assert not metadata_schema.is_valid(document.decode())
    fragment = sp_metadata_fragment(
        entity_id=ENTITY, slo_url=SLO, cert_pem=sp_rsa.cert.read_bytes()
    )
    assert not metadata_schema.is_valid(fragment.decode())


def test_fragment_is_labelled_and_has_no_acs(sp_rsa):
    cert_pem = sp_rsa.cert.read_bytes()
    fragment = sp_metadata_fragment(entity_id=ENTITY, slo_url=SLO, cert_pem=cert_pem)
    text = fragment.decode()
    assert text.startswith(f"<!-- {FRAGMENT_COMMENT} -->\n")
    assert "--" not in FRAGMENT_COMMENT and "AssertionConsumerService" in FRAGMENT_COMMENT
    # the rest is exactly the ACS-less document, and the whole still parses
    assert text.endswith(sp_metadata(entity_id=ENTITY, slo_url=SLO, cert_pem=cert_pem).decode())
    (sp,) = ET.fromstring(fragment)
    assert [c.tag for c in sp] == [MD + "KeyDescriptor", MD + "SingleLogoutService"]


@pytest.mark.parametrize("acs_url", [None, ACS])
def test_pysaml2_loads_it_and_finds_the_signing_cert(sp_rsa, acs_url):
    cert_pem = sp_rsa.cert.read_bytes()
    document = sp_metadata(entity_id=ENTITY, slo_url=SLO, cert_pem=cert_pem, acs_url=acs_url)
    store = MetadataStore(attrc=None, config=None)
    store.load("inline", document.decode())
    certs = store.certs(ENTITY, "any", "signing")
    expected = base64.b64encode(
        x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    ).decode()
    assert [c.replace("\n", "") for _, c in certs] == [expected]
    services = store.single_logout_service(ENTITY, BINDING_HTTP_REDIRECT, "spsso")
    assert [(s["binding"], s["location"]) for s in services] == [(BINDING_HTTP_REDIRECT, SLO)]


# `gateway saml metadata` itself, in process, on a config file.


def write_config(tmp_path: Path, **saml: Any) -> Path:
    config = {
        "upstream": "http://127.0.0.1:9000",
        "state_dir": str(tmp_path / "state"),
        # no route that needs cas.* or saml.* keys: only the metadata ones are set
        "routes": {"saml_logout": None, "logout_action": None},
        "saml": saml,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_metadata(
    capsys: pytest.CaptureFixture[str], config: Path, *extra: str
) -> tuple[int, str, str]:
    code = cli.main(["saml", "metadata", "--config", str(config), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def full_saml(sp_rsa: Any, **overrides: Any) -> dict[str, Any]:
    return {
        "sp_entity_id": ENTITY,
        "sp_slo_url": SLO,
        "sp_cert_file": str(sp_rsa.cert),
        "sp_acs_url": ACS,
        **overrides,
    }


def test_cli_prints_complete_schema_valid_metadata(tmp_path, capsys, metadata_schema, sp_rsa):
    code, out, err = run_metadata(capsys, write_config(tmp_path, **full_saml(sp_rsa)))
    assert (code, err) == (0, "")
    metadata_schema.validate(out)
    root = ET.fromstring(out)
    assert root.get("entityID") == ENTITY
    (sp,) = root
    key_descriptor, slo, acs = sp
    assert key_descriptor.get("use") == "signing"
    der = base64.b64decode(key_descriptor.findtext(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate"))
    assert der == x509.load_pem_x509_certificate(sp_rsa.cert.read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    assert slo.attrib == {"Binding": BINDING_HTTP_REDIRECT, "Location": SLO}
    assert (acs.tag, acs.attrib) == (
        MD + "AssertionConsumerService",
        {"Binding": BINDING_HTTP_POST, "Location": ACS, "index": "0", "isDefault": "true"},
    )


def test_cli_without_acs_url_exits_2_naming_the_key(tmp_path, capsys, sp_rsa):
    saml = full_saml(sp_rsa)
    del saml["sp_acs_url"]
    code, out, err = run_metadata(capsys, write_config(tmp_path, **saml))
    assert code == 2 and out == ""
    assert err.startswith("saml.sp_acs_url: required to print complete SP metadata")
    assert "AssertionConsumerService" in err and "--fragment" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("with_acs", [False, True])
def test_cli_fragment(tmp_path, capsys, metadata_schema, sp_rsa, with_acs):
    saml = full_saml(sp_rsa)
    if not with_acs:
        del saml["sp_acs_url"]
    code, out, err = run_metadata(capsys, write_config(tmp_path, **saml), "--fragment")
    assert (code, err) == (0, "")
    assert out.startswith(f"<!-- {FRAGMENT_COMMENT} -->\n")
    (sp,) = ET.fromstring(out)
    # only the two elements to merge, whether or not sp_acs_url is set
    assert [c.tag for c in sp] == [MD + "KeyDescriptor", MD + "SingleLogoutService"]
    assert not metadata_schema.is_valid(out)
    # an IdP that takes it as is (pysaml2) still finds the signing certificate
    store = MetadataStore(attrc=None, config=None)
    store.load("inline", out)
    assert len(store.certs(ENTITY, "any", "signing")) == 1


def test_cli_without_entity_id_exits_2_naming_the_key(tmp_path, capsys, sp_rsa):
    saml = full_saml(sp_rsa)
    del saml["sp_entity_id"]
    for extra in ([], ["--fragment"]):
        code, out, err = run_metadata(capsys, write_config(tmp_path, **saml), *extra)
        assert (code, out) == (2, "")
        assert err == "saml.sp_entity_id: required to print SP metadata\n"


def test_cli_certificate_file_that_is_not_a_certificate(tmp_path, capsys, sp_rsa):
    # the private key where the certificate belongs: refused, and not printed
    saml = full_saml(sp_rsa, sp_cert_file=str(sp_rsa.key))
    code, out, err = run_metadata(capsys, write_config(tmp_path, **saml))
    assert (code, out) == (2, "")
    assert err == "saml.sp_cert_file: cert_pem is not a PEM certificate\n"
    assert "PRIVATE KEY" not in err


def test_cli_signing_without_a_certificate_exits_2_naming_the_key(tmp_path, capsys, sp_rsa):
    # No KeyDescriptor: the IdP could verify none of our LogoutRequests.
    saml = full_saml(sp_rsa)
    del saml["sp_cert_file"]
    code, out, err = run_metadata(capsys, write_config(tmp_path, **saml))
    assert (code, out) == (2, "")
    assert err.startswith("saml.sp_cert_file: required to print SP metadata while saml.sign")
