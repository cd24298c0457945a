"""Index keys for "every credential of …": a user, a realm, an SSO session.

Logouts started elsewhere name a principal, not a credential: an admin revokes
a user (SPEC §11), the token API a user or realm (§10.5), an OIDC provider a
`sid` or `sub` (§10.4). Learning lists each credential under these keys in
the shared store (`Store.index_credentials`), so any replica can find them.
The keys are fingerprints too: the store never holds a user name as a key.
"""

from __future__ import annotations

from gateway.credentials import Fingerprinter

PRINCIPAL = "principal"  # the fingerprint kind of index keys


def _key(fingerprint: Fingerprinter, kind: str, *parts: str) -> str:
    return f"{kind}:{fingerprint(PRINCIPAL, kind + chr(0) + chr(0).join(parts))}"


def user_key(fingerprint: Fingerprinter, username: str) -> str:
    """Every credential learned for this user name, in any realm."""
    return _key(fingerprint, "user", username)


def realm_key(fingerprint: Fingerprinter, realm: str) -> str:
    """Every token learned in this realm."""
    return _key(fingerprint, "realm", realm)


def realm_user_key(fingerprint: Fingerprinter, realm: str, username: str) -> str:
    """Every token learned for this user in this realm."""
    return _key(fingerprint, "realm_user", realm, username)


def principal_keys(
    fingerprint: Fingerprinter, username: str | None, realm: str | None
) -> list[str]:
    """The keys a credential of (username, realm) is listed under."""
    keys = []
    if username:
        keys.append(user_key(fingerprint, username))
    if realm:
        keys.append(realm_key(fingerprint, realm))
    if username and realm:
        keys.append(realm_user_key(fingerprint, realm, username))
    return keys


def saml_name_id_key(fingerprint: Fingerprinter, name_id: str) -> str:
    """Every token learned for this SAML NameID (value; one IdP is configured, and
    revoking a little more is the safe side of a logout), for an IdP-initiated
    logout that names no SessionIndex (SPEC §10.2)."""
    return _key(fingerprint, "saml_name_id", name_id)


def saml_session_key(fingerprint: Fingerprinter, name_id: str, session_index: str) -> str:
    """Every token learned for one SAML session (NameID + SessionIndex): an
    IdP-initiated logout naming a SessionIndex ends only that session."""
    return _key(fingerprint, "saml_session", name_id, session_index)


def saml_keys(
    fingerprint: Fingerprinter, name_id: str | None, session_index: str | None
) -> list[str]:
    """The keys a token learned from a SAML login is listed under."""
    if not name_id:
        return []
    keys = [saml_name_id_key(fingerprint, name_id)]
    if session_index:
        keys.append(saml_session_key(fingerprint, name_id, session_index))
    return keys
