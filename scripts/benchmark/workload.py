"""What the benchmark's requests carry, and what the upstream answers."""

from __future__ import annotations

from dataclasses import dataclass

# The fingerprint key is configured (not created in the store) so that this
# process can compute the fingerprints the gateways will compute, and seed them.
FP_KEY = "bench-fingerprint-key-" + "0123456789abcdef" * 2
SESSION_COOKIE = "JSESSIONID"
PASS_PATH = "/web/api/v2/clusters"

# What every passthrough request carries: three cookies (one of them the
# configured session cookie) and an opaque bearer token, none of them revoked.
PASS_COOKIE = f"lang=en-US; {SESSION_COOKIE}=8E3D1F0A9C4B27D65A1E0F3C9B8D7A61; theme=dark"
PASS_BEARER = "dXNlcjpiZW5jaC1vcGFxdWUtYWNjZXNzLXRva2VuLTAwMDE"
PASS_HEADERS = (("Cookie", PASS_COOKIE), ("Authorization", f"Bearer {PASS_BEARER}"))

SAML_BLOCK = 20_000  # learned SAML tokens seeded per (algorithm, round)

UPSTREAM_BODY = b'{"ok":true}'


@dataclass
class Load:
    """One kind of traffic: passthrough, CAS logout, or SAML logout."""

    kind: str  # "pass" | "cas" | "saml"
    prefix: str = ""
    start: int = 0


def saml_token(prefix: str, i: int) -> str:
    return f"{prefix}{i}"


def browser_headers(cookie: str, bearer: str) -> tuple[tuple[str, str], ...]:
    """The headers of an in-process passthrough request, as a browser sends them."""
    return (
        ("host", "manager.cluster.example:28443"),
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) bench"),
        ("accept", "application/json, text/plain, */*"),
        ("accept-encoding", "gzip, deflate, br"),
        ("cookie", cookie),
        ("authorization", f"Bearer {bearer}"),
    )
