"""Which logout route a request is, by its normalised path (SPEC §6).

The normalisation errs towards "is a logout": any spelling the upstream (Tomcat,
Jetty, Netty) would route to its logout handler must match here too, otherwise
a client could log out at the upstream while the gateway keeps the session.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNRESERVED_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

CAS_LOGOUT = "cas_logout"
LOGOUT_ACTION = "logout_action"
SAML_LOGOUT = "saml_logout"
# Logouts started at the centre (SPEC §10.1-§10.3).
CAS_SLO = "cas_slo"
SAML_INVALIDATE = "saml_invalidate"
SAML_COMPLETE = "saml_complete"


def _decode_unreserved(match: re.Match[str]) -> str:
    # RFC 3986 §2.3/§6.2.2.2: escapes of unreserved characters are equivalent to
    # the characters themselves; every other escape (%2F, %3B, …) must stay.
    byte = int(match.group(1), 16)
    return chr(byte) if byte in _UNRESERVED else match.group(0).upper()


def _remove_dot_segments(segments: list[str]) -> list[str]:
    # RFC 3986 §5.2.4, on already split segments.
    out: list[str] = []
    for seg in segments:
        if seg == ".":
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    return out


def normalise_path(raw: str) -> str:
    """Return the canonical form of a request path (no query).

    `;params` are removed from every segment (servlet containers ignore them,
    e.g. `;jsessionid=…`), escapes of unreserved characters decoded, duplicate
    slashes collapsed, dot-segments resolved and a trailing slash dropped.
    """
    if (
        raw.startswith("/")
        and "%" not in raw
        and ";" not in raw
        and "?" not in raw
        and "#" not in raw
        and "//" not in raw
        and "/." not in raw
    ):
        # The common case, no escapes/params/dot-segments/empty segments.
        return raw.rstrip("/") or "/"
    path = raw.split("?", 1)[0].split("#", 1)[0]
    segments = []
    for seg in path.split("/"):
        seg = seg.split(";", 1)[0]
        # Until nothing changes: `%%341` → `%41` → `A`. Decoding more than an
        # upstream would only ever makes more paths logouts (the safe side);
        # every pass removes a `%`, so this ends.
        while "%" in seg:
            decoded = _UNRESERVED_ESCAPE.sub(_decode_unreserved, seg)
            if decoded == seg:
                break
            seg = decoded
        if seg:
            segments.append(seg)
    return "/" + "/".join(_remove_dot_segments(segments))


def path_without_params(raw: str) -> str:
    """The path with every `;param` and the query removed, for reports and logs:
    `;jsessionid=…` is a credential (SPEC §5) and must never be printed."""
    path = raw.split("?", 1)[0].split("#", 1)[0]
    if ";" not in path:
        return path
    return "/".join(seg.split(";", 1)[0] for seg in path.split("/"))


@dataclass(frozen=True, slots=True)
class RouteTable:
    """Normalised path → route name, for the enabled routes only."""

    by_path: dict[str, str]

    @classmethod
    def build(cls, paths: dict[str, str | None]) -> RouteTable:
        return cls({normalise_path(p): name for name, p in paths.items() if p is not None})

    def match(self, raw_path: str) -> str | None:
        if not self.by_path:
            return None
        return self.by_path.get(normalise_path(raw_path))
