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


# OpenID Connect (SPEC §10.4): a back-channel logout token names the OP's session
# (`sid`) or subject (`sub`). Both are only unique per OP, so the keys carry the
# issuer the login came from; a login whose answer did not say (no `oidc(iss)` in
# the user metadata) is listed with an empty issuer, which a logout from the
# configured OP also looks at.


def oidc_sid_key(fingerprint: Fingerprinter, issuer: str | None, sid: str) -> str:
    """Every token learned in this OP session."""
    return _key(fingerprint, "oidc_sid", issuer or "", sid)


def oidc_sub_key(fingerprint: Fingerprinter, issuer: str | None, sub: str) -> str:
    """Every token learned for this OP subject."""
    return _key(fingerprint, "oidc_sub", issuer or "", sub)


def oidc_sub_sessionless_key(fingerprint: Fingerprinter, issuer: str | None, sub: str) -> str:
    """The tokens of this subject learned without a session id: a logout naming a
    `sid` cannot tell whether they belong to it, so it ends them too."""
    return _key(fingerprint, "oidc_sub_nosid", issuer or "", sub)


def oidc_keys(
    fingerprint: Fingerprinter, issuer: str | None, sub: str | None, sid: str | None
) -> list[str]:
    """The keys a token of an OIDC login is listed under."""
    keys = []
    if sid:
        keys.append(oidc_sid_key(fingerprint, issuer, sid))
    if sub:
        keys.append(oidc_sub_key(fingerprint, issuer, sub))
        if not sid:
            keys.append(oidc_sub_sessionless_key(fingerprint, issuer, sub))
    return keys


def oidc_lookup_keys(
    fingerprint: Fingerprinter, issuer: str, *, sid: str | None, sub: str | None
) -> list[str]:
    """Where a logout token from `issuer` finds the tokens it ends (Back-Channel
    Logout 1.0 §2.7): with a `sid`, that session only (plus the subject's tokens
    learned without any session id); without, every session of the subject."""
    keys: list[str] = []
    for iss in (issuer, None):
        if sid:
            keys.append(oidc_sid_key(fingerprint, iss, sid))
            if sub:
                keys.append(oidc_sub_sessionless_key(fingerprint, iss, sub))
        elif sub:
            keys.append(oidc_sub_key(fingerprint, iss, sub))
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
