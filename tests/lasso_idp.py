"""Lasso (mod_auth_mellon's and LemonLDAP::NG's SAML library) as a real IdP.

Run by the SYSTEM interpreter (`/usr/bin/python3`, Debian package
`python3-lasso`), never imported by the test suite: the C bindings are not in
the venv. One JSON request on stdin, one JSON answer on stdout, so that no SAML
message, session or key ever appears in a command line or a file:

    {"op": "add_sp", "idp": {"metadata", "key", "cert"}, "sp_metadata": PATH}
    {"op": "login",  ..., "sp_entity_id": ID}        IdP-initiated SSO (HTTP-POST)
    {"op": "logout", ..., "query": RAW_QUERY, "session": DUMP, "identity": DUMP}

Answers are `{"ok": true, ...}`, or `{"ok": false, "stage", "error", "code"}`
with Lasso's exception class and error code. The IdP keeps its state in the
session and identity dumps, as a Lasso IdP persists them between requests.

Lasso facts this relies on (Lasso 2.8.1, help(lasso.Logout) / help(lasso.Server)):
* `Server.addProvider(PROVIDER_ROLE_SP, path)` raises
  ServerAddProviderFailedError (-202) for an SPSSODescriptor without an
  AssertionConsumerService, logging "Could not find a default assertion
  consumer" to stderr.
* `Logout.processRequestMsg(msg)` takes the Redirect binding's raw query string
  (a whole URL is refused as an invalid message, -407) and checks its signature
  against the signing certificate in the SP's metadata. The verify hint
  defaults to MAYBE, which already raises DsInvalidSignatureError (102) on a bad
  signature; IGNORE would let it through (only getSignatureStatus() then
  reports it), so this IdP sets FORCE explicitly. A query without SigAlg and
  Signature is refused (DsInvalidSigalgError, -113) when the SP has a key.
* Lasso 2.8.1 has no ECDSA signature method (lasso.SIGNATURE_METHOD_* lists
  RSA-SHA1/256/384/512, DSA-SHA1 and HMAC only): an `ecdsa-sha256` query is
  refused with DsInvalidSigalgError (-113), so Lasso-based IdPs need
  `saml.sig_alg: rsa-sha256` (or rsa-sha512).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import lasso


def server(req: dict[str, Any]) -> Any:
    idp = req["idp"]
    srv = lasso.Server(idp["metadata"], idp["key"], None, idp["cert"])
    srv.signatureMethod = lasso.SIGNATURE_METHOD_RSA_SHA256
    srv.addProvider(lasso.PROVIDER_ROLE_SP, req["sp_metadata"])
    return srv


def add_sp(req: dict[str, Any]) -> dict[str, Any]:
    srv = server(req)
    return {"ok": True, "providers": sorted(srv.providerIds)}


def login(req: dict[str, Any]) -> dict[str, Any]:
    """An assertion for the SP, POSTed to the AssertionConsumerService that the
    SP's metadata names (no AuthnRequest: IdP-initiated)."""
    profile = lasso.Login(server(req))
    profile.initIdpInitiatedAuthnRequest(req["sp_entity_id"])
    profile.request.nameIdPolicy.format = lasso.SAML2_NAME_IDENTIFIER_FORMAT_PERSISTENT
    profile.request.nameIdPolicy.allowCreate = True
    profile.request.protocolBinding = lasso.SAML2_METADATA_BINDING_POST
    profile.processAuthnRequestMsg(None)
    profile.validateRequestMsg(True, True)
    profile.buildAssertion(lasso.SAML2_AUTHN_CONTEXT_PASSWORD, None, None, None, None)
    profile.buildAuthnResponseMsg()
    assertion = profile.assertion
    return {
        "ok": True,
        "acs_url": profile.msgUrl,
        "response": profile.msgBody,
        "name_id": assertion.subject.nameID.content,
        "session_index": assertion.authnStatement[0].sessionIndex,
        "session": profile.session.dump(),
        "identity": profile.identity.dump(),
    }


def logout(req: dict[str, Any]) -> dict[str, Any]:
    """An SP-initiated LogoutRequest (HTTP-Redirect): parse, verify, end the
    session it names, and answer with a LogoutResponse."""
    profile = lasso.Logout(server(req))
    profile.setSessionFromDump(req["session"])
    profile.setIdentityFromDump(req["identity"])
    profile.setSignatureVerifyHint(lasso.PROFILE_SIGNATURE_VERIFY_HINT_FORCE)
    try:
        profile.processRequestMsg(req["query"])
    except lasso.Error as e:
        return refused("process", e)
    request = profile.request
    answer: dict[str, Any] = {
        "ok": True,
        # getSignatureStatus() raises on a failed check and gives None (0) on a good one
        "signature_status": profile.getSignatureStatus(),
        "remote_provider": profile.remoteProviderId,
        "request_id": request.id,
        "issuer": request.issuer.content,
        "name_id": profile.nameIdentifier.content,
        "session_indexes": list(request.sessionIndexes),
    }
    try:
        profile.validateRequest()  # the session holds an assertion for this NameID
    except lasso.Error as e:
        return refused("validate", e)
    profile.buildResponseMsg()
    answer["response_status"] = profile.response.status.statusCode.value
    answer["response_endpoint"] = profile.msgUrl.split("?", 1)[0]
    return answer


def refused(stage: str, e: Exception) -> dict[str, Any]:
    return {
        "ok": False,
        "stage": stage,
        "error": type(e).__name__,
        "code": getattr(e, "code", None),
    }


OPS = {"add_sp": add_sp, "login": login, "logout": logout}


def main() -> int:
    req = json.load(sys.stdin)
    try:
        answer = OPS[req["op"]](req)
    except lasso.Error as e:
        answer = refused(req["op"], e)
    json.dump(answer, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
