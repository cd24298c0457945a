"""End to end with Lasso (mod_auth_mellon's and LemonLDAP::NG's SAML library)
as the IdP: it loads the metadata `gateway saml metadata` prints, logs a user in
to the SP (the SAML Response the gateway learns from), and accepts the signed
LogoutRequest a real `gateway run` produces, ending that session.

Lasso's Python bindings exist only for the system interpreter (Debian package
`python3-lasso`, which ./scripts/test installs), so the IdP is
tests/lasso_idp.py run by it in a subprocess; SAML messages travel through pipes,
never through command lines, files or test output.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from procs import BIN, ROOT, request, running_gateway, write_config
from secrets_registry import remember

from gateway.saml.keys import generate_sp_keypair
from gateway.saml.redirect_binding import deflate_b64, inflate_b64

pytestmark = pytest.mark.slow

SYSTEM_PYTHON = "/usr/bin/python3"
LASSO_IDP = ROOT / "tests" / "lasso_idp.py"
SP_ENTITY = "http://127.0.0.1:8080/"
SP_SLO = "http://127.0.0.1:8080/logout"
SP_ACS = "http://127.0.0.1:8080/api/security/saml/callback"  # Kibana's ACS
IDP_ENTITY = "https://idp.example.com/idp"
IDP_SLO = "https://idp.example.com/idp/saml2/slo"
IDP_SSO = "https://idp.example.com/idp/saml2/sso"
JSON = {"Content-Type": "application/json"}
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"


@pytest.fixture(scope="module")
def lasso_python() -> str:
    python = shutil.which(SYSTEM_PYTHON)
    if python is None:
        pytest.skip(f"no {SYSTEM_PYTHON}: Lasso's bindings are for the system Python only")
    probe = subprocess.run([python, "-c", "import lasso"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(
            f"{SYSTEM_PYTHON} cannot import lasso: install the Debian package python3-lasso"
            " (./scripts/test does)"
        )
    return python


class LassoIdP:
    """The IdP's key, certificate and metadata; each call is one Lasso request."""

    def __init__(self, python: str, tmp: Path) -> None:
        self.python = python
        key, cert = generate_sp_keypair(tmp / "idp", cn="test Lasso IdP")
        self.metadata = tmp / "idp" / "idp-metadata.xml"
        self.metadata.write_text(idp_metadata(cert.read_bytes()))
        self.files = {"metadata": str(self.metadata), "key": str(key), "cert": str(cert)}

    def call(self, op: str, sp_metadata: Path, **fields: Any) -> tuple[dict[str, Any], str]:
        """Lasso's JSON answer, and what it logged to stderr (never SAML messages:
        the tests only look for known phrases in it)."""
        req = {"op": op, "idp": self.files, "sp_metadata": str(sp_metadata), **fields}
        done = subprocess.run(
            [self.python, str(LASSO_IDP)],
            input=json.dumps(req),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        # No output in the message: it could hold what the IdP was given.
        assert done.returncode == 0, f"lasso_idp.py {op} exited {done.returncode}"
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer, done.stderr


def idp_metadata(cert_pem: bytes) -> str:
    """The minimal IdP EntityDescriptor Lasso needs for its own Server."""
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    return f"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
 xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{IDP_ENTITY}">
 <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
  <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>
   <ds:X509Certificate>{base64.b64encode(der).decode()}</ds:X509Certificate>
  </ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
  <md:SingleLogoutService Binding="{REDIRECT}" Location="{IDP_SLO}"/>
  <md:SingleSignOnService Binding="{REDIRECT}" Location="{IDP_SSO}"/>
 </md:IDPSSODescriptor>
</md:EntityDescriptor>
"""


def gateway_config(tmp: Path, upstream_url: str, *, acs: bool = True) -> tuple[Path, Path]:
    """The config file and the SP certificate it names."""
    key, cert = generate_sp_keypair(tmp / "sp")
    saml: dict[str, Any] = {
        "sp_entity_id": SP_ENTITY,
        "idp_entity_id": IDP_ENTITY,
        "idp_slo_url": IDP_SLO,
        "sp_slo_url": SP_SLO,
        "sig_alg": "rsa-sha256",  # Lasso 2.8 verifies no ECDSA (see tests/lasso_idp.py)
        "sp_key_file": str(key),
        "sp_cert_file": str(cert),
    }
    if acs:
        saml["sp_acs_url"] = SP_ACS
    routes = {"saml_logout": {"mode": "short_circuit"}}
    return write_config(tmp, upstream_url, routes=routes, saml=saml), cert


def metadata_command(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN / "gateway", "saml", "metadata", "--config", config, *extra],
        capture_output=True,
        text=True,
        check=False,
    )


def replace_param(query: str, name: str, value: str) -> str:
    """The raw query with one parameter's (already encoded) value replaced."""
    parts = query.split("&")
    return "&".join(f"{name}={value}" if p.startswith(f"{name}=") else p for p in parts)


def param(query: str, name: str) -> str:
    (raw,) = [p.split("=", 1)[1] for p in query.split("&") if p.startswith(f"{name}=")]
    return raw


def test_lasso_refuses_metadata_without_acs(tmp_path, upstream, lasso_python):
    """The bug: the document `gateway saml metadata` printed before (no ACS) is
    refused by Lasso; now the command refuses to print it as metadata."""
    config, _ = gateway_config(tmp_path, upstream.url, acs=False)
    done = metadata_command(config)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("saml.sp_acs_url: required")

    fragment = metadata_command(config, "--fragment")
    assert fragment.returncode == 0, fragment.stderr
    path = tmp_path / "sp-fragment.xml"
    path.write_text(fragment.stdout)
    idp = LassoIdP(lasso_python, tmp_path)
    answer, log = idp.call("add_sp", path)
    assert answer == {
        "ok": False,
        "stage": "add_sp",
        "error": "ServerAddProviderFailedError",
        "code": -202,
    }
    assert "Could not find a default assertion consumer" in log


def test_lasso_idp_accepts_the_gateways_logout_request(tmp_path, upstream, lasso_python):
    config, sp_cert = gateway_config(tmp_path, upstream.url)
    done = metadata_command(config)
    assert done.returncode == 0, done.stderr
    sp_metadata = tmp_path / "sp-metadata.xml"
    sp_metadata.write_text(done.stdout)
    idp = LassoIdP(lasso_python, tmp_path)

    answer, _ = idp.call("add_sp", sp_metadata)
    assert answer == {"ok": True, "providers": [SP_ENTITY]}

    # Lasso logs the user in to the SP: its Response goes to the ACS of our metadata.
    sso, _ = idp.call("login", sp_metadata, sp_entity_id=SP_ENTITY)
    assert sso["ok"] and sso["acs_url"] == SP_ACS
    content = sso["response"]
    remember(content)

    with running_gateway(config) as gw:
        # The upstream (Kibana → Elasticsearch) accepts the Response; the gateway learns
        # NameID and SessionIndex from it on the way.
        payload = json.dumps({"content": content, "ids": [], "realm": "saml1"}).encode()
        status, _, body = request(gw.port, "POST", "/_security/saml/authenticate", JSON, payload)
        assert status == 200
        tokens = json.loads(body)
        access = tokens["access_token"]
        remember(access, tokens["refresh_token"])
        bearer = {"Authorization": f"Bearer {access}"}
        assert request(gw.port, "GET", "/_security/_authenticate", bearer)[0] == 200

        payload = json.dumps({"token": access}).encode()
        status, _, body = request(gw.port, "POST", "/_security/saml/logout", JSON, payload)
        assert status == 200
        logout = json.loads(body)
        url = urlsplit(logout["redirect"])
        assert f"{url.scheme}://{url.netloc}{url.path}" == IDP_SLO
        query = url.query
        remember(unquote(param(query, "SAMLRequest")), unquote(param(query, "Signature")))

        assert request(gw.port, "GET", "/_security/_authenticate", bearer)[0] == 401
        gateway_output = gw.proc.text

    session = {"session": sso["session"], "identity": sso["identity"]}
    accepted, _ = idp.call("logout", sp_metadata, query=query, **session)
    assert accepted.get("ok"), {k: accepted.get(k) for k in ("stage", "error", "code")}
    assert accepted == {
        "ok": True,
        "signature_status": None,  # Lasso's 0: the signature verified
        "remote_provider": SP_ENTITY,
        "request_id": logout["id"],
        "issuer": SP_ENTITY,
        "name_id": sso["name_id"],  # what the gateway learned from Lasso's Response
        "session_indexes": [sso["session_index"]],
        "response_status": "urn:oasis:names:tc:SAML:2.0:status:Success",
        "response_endpoint": SP_SLO,  # the LogoutResponse goes to our metadata's SLO
    }

    # Tampered copies are refused before Lasso touches the session.
    signature = param(query, "Signature")
    flipped = signature[:10] + ("B" if signature[10] != "B" else "C") + signature[11:]
    xml = inflate_b64(unquote(param(query, "SAMLRequest")))
    assert sso["name_id"].encode() in xml
    other_user = quote(deflate_b64(xml.replace(sso["name_id"].encode(), b"_mallory")), safe="")
    unsigned = "&".join(p for p in query.split("&") if p.startswith("SAMLRequest="))
    for forged, error in (
        (replace_param(query, "Signature", flipped), "DsInvalidSignatureError"),
        (replace_param(query, "SAMLRequest", other_user), "DsInvalidSignatureError"),
        (unsigned, "DsInvalidSigalgError"),
    ):
        refused, _ = idp.call("logout", sp_metadata, query=forged, **session)
        assert (refused["ok"], refused["stage"], refused["error"]) == (False, "process", error)

    # Lasso checks the signature against the certificate in our metadata: with
    # another SP certificate there, the genuine request is refused too.
    _, other_cert = generate_sp_keypair(tmp_path / "other-sp")
    ours = x509.load_pem_x509_certificate(sp_cert.read_bytes())
    theirs = x509.load_pem_x509_certificate(other_cert.read_bytes())
    swapped = tmp_path / "sp-metadata-other-cert.xml"
    swapped.write_text(
        done.stdout.replace(
            base64.b64encode(ours.public_bytes(serialization.Encoding.DER)).decode(),
            base64.b64encode(theirs.public_bytes(serialization.Encoding.DER)).decode(),
        )
    )
    assert swapped.read_text() != done.stdout
    refused, _ = idp.call("logout", swapped, query=query, **session)
    assert (refused["ok"], refused["error"]) == (False, "DsInvalidSignatureError")

    for secret in (access, content, unquote(param(query, "SAMLRequest"))):
        assert secret not in gateway_output
