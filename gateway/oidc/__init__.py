"""OpenID Connect protocol code the logout routes use (SPEC §10.4). Not routes
themselves (those live in `gateway.logouts`); one concern per module:

* ``logout_token`` - OpenID Connect Back-Channel Logout 1.0 logout-token verification;
* ``keys`` - the OP's JWKS (``oidc.jwks_file``) loaded into a verifier, naming the key;
* ``end_session`` - the RP-initiated logout redirect (``oidc.end_session_url``);
* ``learn`` - what an Elasticsearch OIDC realm's ``oidc/authenticate`` answer teaches.
"""
