#!/usr/bin/env python3
"""A demo upstream that stands in for the cluster behind the logout gateway.

It plays, in one process and with in-memory state only:

* the MRS / FusionInsight Manager web app under ``/web/`` (CAS-protected, session
  cookie ``JSESSIONID``) and the CAS server it uses under ``/cas``;
* an Elasticsearch-style SAML realm under ``/_security/`` plus a tiny index;
* a demo IdP SingleLogoutService at ``/idp/slo`` (accepts anything);
* an Elasticsearch-style OIDC realm ``oidc1`` (``/_security/oidc/prepare``,
  ``authenticate``, ``logout``) in front of a demo OP under ``/op`` (its
  ``authorize`` hands out codes, its ``logout`` ends nothing but says so). A code
  is ``SUB`` or ``SUB:SID`` (the demo OP's "user database"); an ``id_token`` in
  the redirect URI (implicit flow) is read without checking its signature.

Every request that arrives is recorded (fingerprints only, never raw
credentials) so that end-to-end tests can prove a request never reached the
upstream: ``GET /__demo/requests`` lists them, ``POST /__demo/reset`` clears the
list, ``--log PATH`` also appends them as JSON Lines.

Standard library only, so that it runs anywhere the gateway's tests run::

    python scripts/demo_upstream.py --host 127.0.0.1 --port 9000 [--log PATH]
                                    [--cas-url http://127.0.0.1:9000/cas]

Nothing here validates signatures: it is a demo, never a real service.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import secrets
import signal
import socket
import ssl
import sys
import threading
import time
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import IO, Any, cast
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

MAX_BODY_BYTES = 1 << 20  # request bodies above this are refused with 413
MAX_DRAIN_BYTES = 16 << 20  # an oversized body up to this is read and dropped first
MAX_INFLATED_BYTES = 64 * 1024  # cap for DEFLATE output before parsing SAML
ACCESS_TOKEN_TTL = 1200  # seconds; Elasticsearch's default access-token lifetime
REFRESH_TOKEN_TTL = 24 * 3600  # Elasticsearch refresh tokens live 24 h
SESSION_COOKIE = "JSESSIONID"
TGT_COOKIE = "CASTGC"
DEMO_USER = "admin"
OIDC_REALM = "oidc1"
OIDC_CLIENT_ID = "demo-kibana"
# Names the user on the answer that creates a session, as many SSO front-ends
# do; the gateway's `sessions.user_header` learns who a session belongs to.
USER_HEADER = "X-Authenticated-User"
_USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")

SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
ET.register_namespace("samlp", SAMLP_NS)
ET.register_namespace("saml", SAML_NS)

_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


# --------------------------------------------------------------------------- helpers


def fingerprint(raw: str) -> str:
    """First 16 hex characters of SHA-256 over the raw value (as received)."""
    # Header values arrive decoded as ISO-8859-1, so this round-trips the bytes.
    data = raw.encode("latin-1", errors="replace")
    return hashlib.sha256(data).hexdigest()[:16]


def utc_now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_cookies(headers: Iterable[str]) -> dict[str, str]:
    """Lenient ``Cookie`` header parsing (name=value pairs split on ``;``)."""
    cookies: dict[str, str] = {}
    for header in headers:
        for part in header.split(";"):
            name, sep, value = part.partition("=")
            name = name.strip()
            if sep and name:
                cookies[name] = value.strip()
    return cookies


def _decode_unreserved(segment: str) -> str:
    """Percent-decode only unreserved characters (RFC 3986 section 6.2.2.2)."""

    def decode(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else match.group(0).upper()

    return _PERCENT.sub(decode, segment)


def normalise_path(raw_path: str) -> str:
    """Route the way a servlet container would: ``;params`` dropped, duplicate
    slashes collapsed, unreserved escapes decoded, dot-segments resolved and a
    trailing slash ignored. The request log keeps the raw path."""
    segments: list[str] = []
    for piece in raw_path.split("/"):
        piece = _decode_unreserved(piece.split(";", 1)[0])
        if piece in ("", "."):
            continue
        if piece == "..":
            if segments:
                segments.pop()
            continue
        segments.append(piece)
    return "/" + "/".join(segments)


def deflate_b64(data: bytes) -> str:
    """SAML HTTP-Redirect encoding: raw DEFLATE (no zlib header), then base64."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(compressor.compress(data) + compressor.flush()).decode("ascii")


def inflate_b64(text: str) -> bytes:
    raw = base64.b64decode(text, validate=False)
    decompressor = zlib.decompressobj(-15)
    out = decompressor.decompress(raw, MAX_INFLATED_BYTES)
    if decompressor.unconsumed_tail:
        raise ValueError("inflated message too large")
    return out


def parse_xml(data: bytes) -> ET.Element:
    """Parse the demo's own SAML. No DTDs at all (no entity tricks)."""
    if b"<!doctype" in data.lower() or b"<!entity" in data.lower():
        raise ValueError("DTDs are not allowed")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise ValueError(f"malformed XML: {exc}") from None


def is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def add_query_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    extra = urlencode({name: value})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


# --------------------------------------------------------------------------- SAML bits


@dataclass(frozen=True)
class SamlIdentity:
    """What an Elasticsearch SAML realm keeps with the tokens it issues."""

    name_id: str
    name_id_attrs: dict[str, str]
    session_index: str | None


def identity_from_response(content_b64: str) -> SamlIdentity:
    """NameID and SessionIndex of a (base64) SAML Response. Demo: no signatures."""
    try:
        data = base64.b64decode(content_b64, validate=False)
    except (binascii.Error, ValueError):
        raise ValueError("content is not base64") from None
    root = parse_xml(data)
    if root.tag != f"{{{SAMLP_NS}}}Response":
        raise ValueError("not a SAML Response")
    status = root.find(f"{{{SAMLP_NS}}}Status/{{{SAMLP_NS}}}StatusCode")
    if status is not None and not status.get("Value", "").endswith(":Success"):
        raise ValueError("SAML Response status is not Success")
    assertion = root.find(f"{{{SAML_NS}}}Assertion")
    if assertion is None:
        raise ValueError("no (unencrypted) Assertion in the SAML Response")
    name_id = assertion.find(f"{{{SAML_NS}}}Subject/{{{SAML_NS}}}NameID")
    if name_id is None or not (name_id.text or "").strip():
        raise ValueError("no NameID in the SAML Assertion")
    attrs = {
        key: value
        for key in ("Format", "NameQualifier", "SPNameQualifier")
        if (value := name_id.get(key)) is not None
    }
    authn = assertion.find(f"{{{SAML_NS}}}AuthnStatement")
    session_index = authn.get("SessionIndex") if authn is not None else None
    return SamlIdentity((name_id.text or "").strip(), attrs, session_index)


def identity_from_logout_request(saml_request_b64: str) -> SamlIdentity:
    """NameID and SessionIndex of a Redirect-binding LogoutRequest."""
    try:
        root = parse_xml(inflate_b64(saml_request_b64))
    except (binascii.Error, zlib.error):
        raise ValueError("SAMLRequest is not DEFLATE+base64") from None
    if root.tag != f"{{{SAMLP_NS}}}LogoutRequest":
        raise ValueError("not a SAML LogoutRequest")
    name_id = root.find(f"{{{SAML_NS}}}NameID")
    if name_id is None or not (name_id.text or "").strip():
        raise ValueError("no NameID in the LogoutRequest")
    index = root.find(f"{{{SAMLP_NS}}}SessionIndex")
    session_index = (index.text or "").strip() if index is not None else None
    return SamlIdentity((name_id.text or "").strip(), {}, session_index or None)


def _instant() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def logout_request_xml(
    request_id: str, destination: str, issuer: str, identity: SamlIdentity
) -> bytes:
    root = ET.Element(
        f"{{{SAMLP_NS}}}LogoutRequest",
        {
            "ID": request_id,
            "Version": "2.0",
            "IssueInstant": _instant(),
            "Destination": destination,
        },
    )
    ET.SubElement(root, f"{{{SAML_NS}}}Issuer").text = issuer
    ET.SubElement(root, f"{{{SAML_NS}}}NameID", identity.name_id_attrs).text = identity.name_id
    if identity.session_index:
        ET.SubElement(root, f"{{{SAMLP_NS}}}SessionIndex").text = identity.session_index
    return ET.tostring(root)


def logout_response_xml(response_id: str, in_response_to: str, destination: str) -> bytes:
    root = ET.Element(
        f"{{{SAMLP_NS}}}LogoutResponse",
        {
            "ID": response_id,
            "Version": "2.0",
            "IssueInstant": _instant(),
            "Destination": destination,
            "InResponseTo": in_response_to,
        },
    )
    status = ET.SubElement(root, f"{{{SAMLP_NS}}}Status")
    ET.SubElement(
        status, f"{{{SAMLP_NS}}}StatusCode", {"Value": "urn:oasis:names:tc:SAML:2.0:status:Success"}
    )
    return ET.tostring(root)


# --------------------------------------------------------------------------- state


@dataclass
class Session:
    user: str
    ticket: str | None
    tgt: str | None
    created: float


@dataclass
class Grant:
    username: str
    realm: str
    identity: SamlIdentity | None  # SAML logins
    claims: dict[str, str] = field(default_factory=dict)  # OIDC logins: iss, sub, sid
    id_token: str | None = None  # OIDC logins: for the logout's id_token_hint


@dataclass
class AccessToken:
    grant: Grant
    expires: float
    refresh: str


@dataclass
class RefreshToken:
    grant: Grant
    expires: float
    access: str


@dataclass
class DemoState:
    """All in-memory state; every method takes the lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    tgts: set[str] = field(default_factory=set)
    tgt_users: dict[str, str] = field(default_factory=dict)  # TGT -> user (/cas/login?username=)
    tickets: dict[str, str | None] = field(default_factory=dict)  # live ST -> TGT
    used_tickets: set[str] = field(default_factory=set)
    sessions: dict[str, Session] = field(default_factory=dict)
    ticket_sessions: dict[str, str] = field(default_factory=dict)  # ST -> JSESSIONID
    access: dict[str, AccessToken] = field(default_factory=dict)
    refresh: dict[str, RefreshToken] = field(default_factory=dict)
    dead: set[str] = field(default_factory=set)  # invalidated tokens (for the counts)

    # CAS / MRS ---------------------------------------------------------------

    def ensure_tgt(self, tgt: str | None, user: str | None = None) -> tuple[str, bool]:
        """The caller's ticket-granting ticket, or a new one (also when another
        user logs in). (tgt, created)."""
        with self.lock:
            if tgt and tgt in self.tgts and (user is None or self.tgt_users.get(tgt) == user):
                return tgt, False
            new = "TGT-" + secrets.token_urlsafe(24)
            self.tgts.add(new)
            if user is not None:
                self.tgt_users[new] = user
            return new, True

    def tgt_user(self, tgt: str | None) -> str | None:
        with self.lock:
            return self.tgt_users.get(tgt) if tgt else None

    def issue_ticket(self, tgt: str) -> str:
        ticket = "ST-" + secrets.token_urlsafe(24)
        with self.lock:
            self.tickets[ticket] = tgt
        return ticket

    def consume_ticket(self, ticket: str) -> tuple[bool, str | None]:
        """Single use. Unknown ST-* tickets are accepted (demo); used ones are not."""
        with self.lock:
            if ticket in self.used_tickets:
                return False, None
            self.used_tickets.add(ticket)
            return True, self.tickets.pop(ticket, None)

    def create_session(self, user: str, ticket: str | None, tgt: str | None) -> str:
        sid = secrets.token_hex(16).upper()
        with self.lock:
            self.sessions[sid] = Session(user, ticket, tgt, time.time())
            if ticket:
                self.ticket_sessions[ticket] = sid
        return sid

    def session_user(self, sid: str | None) -> str | None:
        with self.lock:
            session = self.sessions.get(sid) if sid else None
            return session.user if session else None

    def _drop_session(self, sid: str) -> bool:
        session = self.sessions.pop(sid, None)
        if session is None:
            return False
        if session.ticket:
            self.ticket_sessions.pop(session.ticket, None)
        return True

    def end_session(self, sid: str | None) -> bool:
        with self.lock:
            return self._drop_session(sid) if sid else False

    def end_sso(self, tgt: str | None, sid: str | None) -> int:
        """CAS logout: the TGT ends and (as CAS single logout would) every session
        created from its tickets, plus the caller's own session. Count ended."""
        with self.lock:
            if not tgt and sid and sid in self.sessions:
                tgt = self.sessions[sid].tgt
            ended = 0
            if tgt:
                self.tgts.discard(tgt)
                for other in [k for k, s in self.sessions.items() if s.tgt == tgt]:
                    ended += self._drop_session(other)
            if sid:
                ended += self._drop_session(sid)
            return ended

    def single_logout(self, ticket: str) -> bool:
        """CAS back-channel logout by service ticket (SessionIndex)."""
        with self.lock:
            sid = self.ticket_sessions.pop(ticket, None)
            return self._drop_session(sid) if sid else False

    # Elasticsearch -----------------------------------------------------------

    def issue_tokens(self, grant: Grant) -> tuple[str, str]:
        access = secrets.token_urlsafe(32)
        refresh = secrets.token_urlsafe(32)
        now = time.time()
        with self.lock:
            self.access[access] = AccessToken(grant, now + ACCESS_TOKEN_TTL, refresh)
            self.refresh[refresh] = RefreshToken(grant, now + REFRESH_TOKEN_TTL, access)
        return access, refresh

    def check_access(self, token: str) -> Grant | None:
        with self.lock:
            entry = self.access.get(token)
            if entry is None or entry.expires <= time.time():
                return None
            return entry.grant

    def use_refresh(self, refresh: str) -> Grant | None:
        """Single use: a known, live refresh token is spent and its grant returned.
        The old access token stays valid until it expires (as Elasticsearch does)."""
        with self.lock:
            entry = self.refresh.pop(refresh, None)
            if entry is None or entry.expires <= time.time():
                return None
            return entry.grant

    def invalidate(self, access: str | None, refresh: str | None) -> tuple[Grant | None, int]:
        """Invalidate an access token with its refresh token (and a given refresh
        token with its access token). (grant of the live access token, count)."""
        with self.lock:
            grant: Grant | None = None
            count = 0
            if access and (entry := self.access.pop(access, None)) is not None:
                count += 1
                self.dead.add(access)
                if entry.expires > time.time():
                    grant = entry.grant
                count += self.refresh.pop(entry.refresh, None) is not None
                self.dead.add(entry.refresh)
            if refresh and (rentry := self.refresh.pop(refresh, None)) is not None:
                count += 1
                self.dead.add(refresh)
                count += self.access.pop(rentry.access, None) is not None
                self.dead.add(rentry.access)
            return grant, count

    def was_invalidated(self, token: str) -> bool:
        with self.lock:
            return token in self.dead

    def invalidate_user(self, realm: str | None, username: str | None) -> int:
        """The invalidate-token API by realm_name and/or username: every live token."""

        def matches(grant: Grant) -> bool:
            return (realm is None or grant.realm == realm) and (
                username is None or grant.username == username
            )

        with self.lock:
            dead = [k for k, v in self.access.items() if matches(v.grant)]
            dead_refresh = [k for k, v in self.refresh.items() if matches(v.grant)]
            for key in dead:
                del self.access[key]
            for key in dead_refresh:
                del self.refresh[key]
            self.dead.update(dead, dead_refresh)
            return len(dead) + len(dead_refresh)

    def invalidate_identity(self, realm: str | None, identity: SamlIdentity) -> int:
        """IdP-initiated logout: every token of that NameID (and SessionIndex)."""

        def matches(grant: Grant) -> bool:
            return (
                grant.identity is not None
                and grant.identity.name_id == identity.name_id
                and (realm is None or grant.realm == realm)
                and (
                    identity.session_index is None
                    or grant.identity.session_index == identity.session_index
                )
            )

        with self.lock:
            dead_access = [k for k, v in self.access.items() if matches(v.grant)]
            dead_refresh = [k for k, v in self.refresh.items() if matches(v.grant)]
            for key in dead_access:
                del self.access[key]
            for key in dead_refresh:
                del self.refresh[key]
            return len(dead_access) + len(dead_refresh)


class RequestLog:
    """Every request that arrived, as fingerprints; in memory and JSON Lines."""

    def __init__(self, path: str | Path | None) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self._file: IO[str] | None = None
        if path is not None:
            self._file = open(path, "a", encoding="utf-8")  # closed in close()

    def record(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=True, separators=(",", ":"))
        with self._lock:
            self._entries.append(entry)
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


# --------------------------------------------------------------------------- HTTP plumbing


@dataclass
class Request:
    method: str
    raw_path: str
    path: str  # normalised, used for routing
    query: list[tuple[str, str]]
    headers: Message
    cookies: dict[str, str]
    body: bytes

    def arg(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False


def json_reply(
    status: int, payload: Any, headers: Iterable[tuple[str, str]] = (), close: bool = False
) -> Reply:
    body = json.dumps(payload).encode("utf-8")
    return Reply(status, body, "application/json", list(headers), close)


def html_reply(status: int, text: str, headers: Iterable[tuple[str, str]] = ()) -> Reply:
    body = f"<!DOCTYPE html><html><body><p>{text}</p></body></html>".encode()
    return Reply(status, body, "text/html; charset=utf-8", list(headers))


def redirect(location: str, headers: Iterable[tuple[str, str]] = ()) -> Reply:
    return Reply(302, b"", None, [("Location", location), *headers])


def es_error(
    status: int, err_type: str, reason: str, headers: Iterable[tuple[str, str]] = ()
) -> Reply:
    cause = {"type": err_type, "reason": reason}
    payload = {"error": {"root_cause": [cause], **cause}, "status": status}
    return json_reply(status, payload, headers)


def expire_cookie(name: str, path: str = "/") -> tuple[str, str]:
    return ("Set-Cookie", f"{name}=; Path={path}; Max-Age=0")


class BadRequest(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def json_object(req: Request) -> dict[str, Any]:
    """The body as a JSON object, or an Elasticsearch-style 400."""
    try:
        payload = json.loads(req.body.decode("utf-8")) if req.body else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        payload = None
    if not isinstance(payload, dict):
        raise BadRequest(es_error(400, "parse_exception", "request body is required JSON"))
    return payload


# --------------------------------------------------------------------------- the app


class DemoApp:
    """Routing and behaviour; independent of the socket plumbing."""

    def __init__(self, state: DemoState, base_url: str, cas_url: str) -> None:
        self.state = state
        self.base_url = base_url.rstrip("/")
        self.cas_url = cas_url.rstrip("/")

    def dispatch(self, req: Request) -> Reply:
        try:
            return self._route(req)
        except BadRequest as exc:
            return exc.reply

    def _route(self, req: Request) -> Reply:
        path, method = req.path, req.method
        get = method in ("GET", "HEAD")
        if path == "/":
            return html_reply(
                200,
                "Demo upstream: MRS Manager under /web/, CAS under /cas, "
                "Elasticsearch SAML realm under /_security/.",
            )
        # CAS server
        if path == "/cas/login" and get:
            return self.cas_login(req)
        if path == "/cas/logout":
            if method == "POST":
                return self.mrs_cas_logout(req)
            if get:
                return self.cas_browser_logout(req)
        # MRS Manager web app
        if path == "/web" or path.startswith("/web/"):
            return self.mrs_web(req)
        # Elasticsearch
        if path.startswith("/_security/"):
            return self.elasticsearch_security(req)
        if path == "/demo-index/_search" and method in ("GET", "HEAD", "POST"):
            grant = self.bearer_grant(req)
            if isinstance(grant, Reply):
                return grant
            hits: dict[str, Any] = {
                "total": {"value": 0, "relation": "eq"},
                "max_score": None,
                "hits": [],
            }
            return json_reply(200, {"took": 1, "timed_out": False, "hits": hits})
        # demo IdP: SingleLogoutService endpoint (no checks; a real IdP verifies)
        if path == "/idp/slo" and get:
            return html_reply(200, "Demo IdP: logout processed")
        # demo OP (OpenID Connect): authorization and end-session endpoints
        if path == "/op/authorize" and get:
            return self.op_authorize(req)
        if path == "/op/logout" and get:
            return html_reply(200, "Demo OP: logout processed")
        return json_reply(404, {"error": "not_found"})

    # CAS ---------------------------------------------------------------------

    def cas_login(self, req: Request) -> Reply:
        # Demo: no password; `username` picks who logs in (default DEMO_USER).
        user = req.arg("username")
        if user is not None and not _USERNAME.fullmatch(user):
            return html_reply(400, "Demo CAS: invalid username")
        tgt, created = self.state.ensure_tgt(req.cookies.get(TGT_COOKIE), user)
        headers = [("Set-Cookie", f"{TGT_COOKIE}={tgt}; Path=/cas; HttpOnly")] if created else []
        service = req.arg("service")
        if not service:
            return html_reply(200, "Demo CAS: you are logged in", headers)
        if not is_http_url(service):
            return html_reply(400, "Demo CAS: invalid service", headers)
        ticket = self.state.issue_ticket(tgt)
        return redirect(add_query_param(service, "ticket", ticket), headers)

    def mrs_cas_logout(self, req: Request) -> Reply:
        """MRS "Logging Out of the CAS": POST /cas/logout -> 200 {}."""
        self.state.end_sso(req.cookies.get(TGT_COOKIE), req.cookies.get(SESSION_COOKIE))
        headers = [expire_cookie(SESSION_COOKIE)]
        if TGT_COOKIE in req.cookies:
            headers.append(expire_cookie(TGT_COOKIE, "/cas"))
        return json_reply(200, {}, headers)

    def cas_browser_logout(self, req: Request) -> Reply:
        """CAS protocol logout: GET /cas/logout[?service=URL]. The old ``url``
        parameter is ignored, as CAS 3.0 servers must."""
        self.state.end_sso(req.cookies.get(TGT_COOKIE), req.cookies.get(SESSION_COOKIE))
        headers = [expire_cookie(TGT_COOKIE, "/cas")] if TGT_COOKIE in req.cookies else []
        service = req.arg("service")
        if service and is_http_url(service):
            return redirect(service, headers)
        return html_reply(200, "Logout successful", headers)

    # MRS Manager -------------------------------------------------------------

    def mrs_web(self, req: Request) -> Reply:
        path, method = req.path, req.method
        ticket = req.arg("ticket")
        if ticket is not None and method in ("GET", "HEAD"):
            return self.mrs_ticket_login(req, ticket)
        if method == "POST" and b"logoutRequest=" in req.body:
            return self.mrs_single_logout(req)
        if path == "/web/v1/logout_action" and method in ("GET", "HEAD"):
            return self.mrs_logout_action(req)
        user = self.state.session_user(req.cookies.get(SESSION_COOKIE))
        if path.startswith(("/web/api/", "/web/v1/")):
            if user is None:
                return json_reply(
                    401, {"errorCode": "UNAUTHORIZED", "errorMsg": "session is not valid"}
                )
            if path == "/web/api/v2/clusters":
                cluster = {"id": 1, "name": "demo-cluster", "status": "STARTED", "version": "8.3.0"}
                return json_reply(200, {"clusters": [cluster]})
            return json_reply(200, {"user": user, "path": path, "data": []})
        if user is None:
            service = self.base_url + req.raw_path
            return redirect(f"{self.cas_url}/login?service={quote(service, safe='')}")
        return html_reply(200, f"MRS Manager (demo): signed in as {user}")

    def mrs_ticket_login(self, req: Request, ticket: str) -> Reply:
        if not ticket.startswith("ST-"):
            return json_reply(401, {"errorCode": "INVALID_TICKET", "errorMsg": "not a ticket"})
        accepted, tgt = self.state.consume_ticket(ticket)
        if not accepted:
            return json_reply(401, {"errorCode": "INVALID_TICKET", "errorMsg": "ticket was used"})
        user = self.state.tgt_user(tgt) or DEMO_USER
        sid = self.state.create_session(user, ticket, tgt)
        rest = [(k, v) for k, v in req.query if k != "ticket"]
        location = req.raw_path + ("?" + urlencode(rest) if rest else "")
        headers = [("Set-Cookie", f"{SESSION_COOKIE}={sid}; Path=/; HttpOnly"), (USER_HEADER, user)]
        return redirect(location, headers)

    def mrs_single_logout(self, req: Request) -> Reply:
        """CAS back-channel logout (what java-cas-client's SingleSignOutFilter takes):
        form field ``logoutRequest`` whose SessionIndex is the service ticket."""
        form = dict(parse_qsl(req.body.decode("latin-1"), keep_blank_values=True))
        try:
            root = parse_xml(form.get("logoutRequest", "").encode("utf-8"))
        except ValueError:
            return json_reply(400, {"errorCode": "BAD_LOGOUT_REQUEST"})
        index = root.find(f"{{{SAMLP_NS}}}SessionIndex")
        if index is not None and index.text:
            self.state.single_logout(index.text.strip())
        return Reply(200)

    def mrs_logout_action(self, req: Request) -> Reply:
        """MRS "Logging Out Of a Session". The MRS docs call the answer "a temporary
        redirection, a URL for logging out of the CAS" (their example shows only a
        200 header); the demo answers 302 with the URL also in the JSON body."""
        self.state.end_session(req.cookies.get(SESSION_COOKIE))
        service = quote_plus(self.base_url + "/web/")
        location = f"{self.cas_url}/logout?service={service}"
        return json_reply(
            302, {"redirect": location}, [("Location", location), expire_cookie(SESSION_COOKIE)]
        )

    # Elasticsearch -----------------------------------------------------------

    def bearer_grant(self, req: Request) -> Grant | Reply:
        challenge = [("WWW-Authenticate", 'Bearer realm="security"')]
        header = req.headers.get("Authorization")
        if not header:
            reason = f"missing authentication credentials for REST request [{req.raw_path}]"
            return es_error(401, "security_exception", reason, challenge)
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return es_error(401, "security_exception", "unable to authenticate", challenge)
        grant = self.state.check_access(token.strip())
        if grant is None:
            return es_error(401, "security_exception", "token expired", challenge)
        return grant

    def elasticsearch_security(self, req: Request) -> Reply:
        path, method = req.path, req.method
        if path == "/_security/_authenticate" and method in ("GET", "HEAD"):
            grant = self.bearer_grant(req)
            if isinstance(grant, Reply):
                return grant
            realm = {"name": grant.realm, "type": "saml" if grant.identity else "oidc"}
            return json_reply(
                200,
                {
                    "username": grant.username,
                    "roles": [],
                    "full_name": None,
                    "email": None,
                    "metadata": oidc_metadata(grant)
                    if grant.identity is None
                    else {
                        "saml_nameid": grant.identity.name_id,
                        "saml_sessionindex": grant.identity.session_index,
                    },
                    "enabled": True,
                    "authentication_realm": realm,
                    "lookup_realm": realm,
                    "authentication_type": "token",
                },
            )
        if method != "POST" and not (path == "/_security/oauth2/token" and method == "DELETE"):
            return json_reply(404, {"error": "not_found"})
        handlers = {
            "/_security/oidc/prepare": self.oidc_prepare,
            "/_security/oidc/authenticate": self.oidc_authenticate,
            "/_security/oidc/logout": self.oidc_logout,
            "/_security/saml/authenticate": self.saml_authenticate,
            "/_security/oauth2/token": self.oauth2_token,
            "/_security/saml/logout": self.saml_logout,
            "/_security/saml/invalidate": self.saml_invalidate,
            "/_security/saml/complete_logout": self.saml_complete_logout,
        }
        handler = handlers.get(path)
        if handler is None:
            return json_reply(404, {"error": "not_found"})
        return handler(req)

    def saml_authenticate(self, req: Request) -> Reply:
        body = json_object(req)
        content, ids, realm = body.get("content"), body.get("ids", []), body.get("realm")
        if not isinstance(content, str) or not content:
            return es_error(400, "action_request_validation_exception", "content is missing")
        if not isinstance(ids, list) or (realm is not None and not isinstance(realm, str)):
            return es_error(400, "action_request_validation_exception", "bad ids or realm")
        try:
            identity = identity_from_response(content)
        except ValueError as exc:
            return es_error(401, "security_exception", f"cannot parse SAML response: {exc}")
        grant = Grant(identity.name_id, realm or "saml1", identity)
        access, refresh = self.state.issue_tokens(grant)
        return json_reply(
            200,
            {
                "access_token": access,
                "refresh_token": refresh,
                "username": grant.username,
                "realm": grant.realm,
                "expires_in": ACCESS_TOKEN_TTL,
            },
        )

    def oauth2_token(self, req: Request) -> Reply:
        body = json_object(req)
        if req.method == "DELETE":
            return self.invalidate_tokens(body)
        if body.get("grant_type") != "refresh_token":
            return json_reply(400, {"error": "unsupported_grant_type"})
        old = body.get("refresh_token")
        grant = self.state.use_refresh(old) if isinstance(old, str) and old else None
        if grant is None:
            return json_reply(
                400,
                {"error": "invalid_grant", "error_description": "token has already been refreshed"},
            )
        access, refresh = self.state.issue_tokens(grant)
        return json_reply(
            200,
            {
                "access_token": access,
                "type": "Bearer",
                "expires_in": ACCESS_TOKEN_TTL,
                "refresh_token": refresh,
            },
        )

    def saml_logout(self, req: Request) -> Reply:
        body = json_object(req)
        token, refresh = body.get("token"), body.get("refresh_token")
        if not isinstance(token, str) or not token:
            return es_error(400, "action_request_validation_exception", "token is missing")
        if refresh is not None and not isinstance(refresh, str):
            return es_error(400, "action_request_validation_exception", "bad refresh_token")
        grant, _ = self.state.invalidate(token, refresh or None)
        if grant is None or grant.identity is None:
            return json_reply(200, {"id": None, "redirect": None})
        request_id = "_" + secrets.token_hex(20)
        destination = self.base_url + "/idp/slo"
        xml = logout_request_xml(request_id, destination, self.base_url + "/", grant.identity)
        location = destination + "?" + urlencode({"SAMLRequest": deflate_b64(xml)})
        return json_reply(200, {"id": request_id, "redirect": location})

    def saml_invalidate(self, req: Request) -> Reply:
        body = json_object(req)
        query = body.get("query_string", body.get("queryString"))
        realm = body.get("realm")
        if not isinstance(query, str) or not query:
            return es_error(400, "action_request_validation_exception", "query_string is missing")
        if realm is not None and not isinstance(realm, str):
            return es_error(400, "action_request_validation_exception", "bad realm")
        saml_request = dict(parse_qsl(query.lstrip("?"), keep_blank_values=True)).get("SAMLRequest")
        if not saml_request:
            return es_error(400, "action_request_validation_exception", "no SAMLRequest")
        try:
            identity = identity_from_logout_request(saml_request)
            root = parse_xml(inflate_b64(saml_request))
        except (ValueError, binascii.Error, zlib.error) as exc:
            return es_error(401, "security_exception", f"cannot parse LogoutRequest: {exc}")
        count = self.state.invalidate_identity(realm, identity)
        destination = self.base_url + "/idp/slo"
        xml = logout_response_xml("_" + secrets.token_hex(20), root.get("ID", ""), destination)
        location = destination + "?" + urlencode({"SAMLResponse": deflate_b64(xml)})
        return json_reply(
            200, {"realm": realm or "saml1", "invalidated": count, "redirect": location}
        )

    def saml_complete_logout(self, req: Request) -> Reply:
        body = json_object(req)
        if not isinstance(body.get("ids", []), list):
            return es_error(400, "action_request_validation_exception", "ids must be a list")
        return json_reply(200, {})

    # Elasticsearch OIDC realm ------------------------------------------------

    @property
    def op_url(self) -> str:
        return self.base_url + "/op"

    def op_authorize(self, req: Request) -> Reply:
        """The demo OP logs anyone in: ``login_hint`` (or "alice") becomes the code."""
        redirect_uri = req.arg("redirect_uri")
        if not redirect_uri or not is_http_url(redirect_uri):
            return html_reply(400, "Demo OP: invalid redirect_uri")
        code = req.arg("login_hint") or "alice"
        location = add_query_param(redirect_uri, "code", code)
        return redirect(add_query_param(location, "state", req.arg("state") or ""))

    def oidc_prepare(self, req: Request) -> Reply:
        body = json_object(req)
        realm = body.get("realm", OIDC_REALM)
        if realm != OIDC_REALM:
            return es_error(400, "illegal_argument_exception", f"realm [{realm}] is not oidc")
        state = body.get("state") or secrets.token_urlsafe(16)
        nonce = body.get("nonce") or secrets.token_urlsafe(16)
        params = {
            "response_type": "code",
            "scope": "openid",
            "client_id": OIDC_CLIENT_ID,
            "redirect_uri": self.base_url + "/kibana/oidc/callback",
            "state": state,
            "nonce": nonce,
        }
        if isinstance(body.get("login_hint"), str):
            params["login_hint"] = body["login_hint"]
        location = f"{self.op_url}/authorize?{urlencode(params)}"
        return json_reply(
            200, {"redirect": location, "state": state, "nonce": nonce, "realm": OIDC_REALM}
        )

    def oidc_authenticate(self, req: Request) -> Reply:
        """``redirect_uri`` is the URL the OP sent the browser back to: a ``code``
        (``SUB`` or ``SUB:SID``) or an ``id_token`` in its query or fragment."""
        body = json_object(req)
        redirect_uri, state = body.get("redirect_uri"), body.get("state")
        if not isinstance(redirect_uri, str) or not redirect_uri:
            return es_error(400, "action_request_validation_exception", "redirect_uri is missing")
        if not isinstance(state, str) or not state:
            return es_error(400, "action_request_validation_exception", "state is missing")
        parts = urlsplit(redirect_uri)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        params.update(parse_qsl(parts.fragment, keep_blank_values=True))
        if params.get("state") != state:
            return es_error(401, "security_exception", "Invalid state parameter")
        claims = self._oidc_claims(params)
        if isinstance(claims, Reply):
            return claims
        id_token = params.get("id_token") or unsigned_jwt(claims)
        grant = Grant(claims["sub"], OIDC_REALM, None, claims, id_token)
        access, refresh = self.state.issue_tokens(grant)
        realm = {"name": OIDC_REALM, "type": "oidc"}
        authentication = {
            "username": grant.username,
            "roles": [],
            "full_name": None,
            "email": None,
            "metadata": oidc_metadata(grant),
            "enabled": True,
            "authentication_realm": realm,
            "lookup_realm": realm,
            "authentication_type": "realm",
        }
        return json_reply(
            200,
            {
                "username": grant.username,
                "access_token": access,
                "refresh_token": refresh,
                "expires_in": ACCESS_TOKEN_TTL,
                "type": "Bearer",
                "authentication": authentication,
            },
        )

    def _oidc_claims(self, params: dict[str, str]) -> dict[str, str] | Reply:
        if "id_token" in params:
            claims = jwt_claims(params["id_token"])
            if claims is None or not isinstance(claims.get("sub"), str) or not claims["sub"]:
                return es_error(401, "security_exception", "id_token is not a JWT with a sub")
            kept = {k: v for k, v in claims.items() if isinstance(v, str) and v}
            return {"iss": self.op_url, **kept}
        code = params.get("code")
        if not code:
            return es_error(401, "security_exception", "no code or id_token in redirect_uri")
        sub, _, sid = code.partition(":")
        if not sub:
            return es_error(401, "security_exception", "invalid code")
        return {"iss": self.op_url, "sub": sub, "sid": sid or secrets.token_hex(8)}

    def oidc_logout(self, req: Request) -> Reply:
        """Elasticsearch reads ``token`` (and ``refresh_token``), invalidates both and
        answers with the OP's end-session URL carrying the ID token as a hint."""
        body = json_object(req)
        unknown = sorted(set(body) - {"token", "refresh_token"})
        if unknown:
            return es_error(400, "x_content_parse_exception", f"unknown field [{unknown[0]}]")
        token, refresh = body.get("token"), body.get("refresh_token")
        if not isinstance(token, str) or not token:
            return es_error(400, "action_request_validation_exception", "token is missing")
        if refresh is not None and not isinstance(refresh, str):
            return es_error(400, "action_request_validation_exception", "bad refresh_token")
        grant, _ = self.state.invalidate(token, refresh or None)
        if grant is None or grant.id_token is None:
            return es_error(401, "security_exception", "token is not valid")
        params = {
            "id_token_hint": grant.id_token,
            "post_logout_redirect_uri": self.base_url + "/kibana/logged_out",
            "state": secrets.token_urlsafe(16),
        }
        return json_reply(200, {"redirect": f"{self.op_url}/logout?{urlencode(params)}"})

    def invalidate_tokens(self, body: dict[str, Any]) -> Reply:
        """``DELETE /_security/oauth2/token``: ``token`` | ``refresh_token`` |
        ``realm_name``/``username``; unknown tokens are a 404 with zero counts."""
        fields = ("token", "refresh_token", "realm_name", "username")
        unknown = sorted(set(body) - set(fields))
        if unknown:
            return es_error(400, "x_content_parse_exception", f"unknown field [{unknown[0]}]")
        if any(not isinstance(body.get(k), str | None) for k in fields):
            return es_error(400, "x_content_parse_exception", "fields must be strings")
        access, refresh = body.get("token") or None, body.get("refresh_token") or None
        realm, user = body.get("realm_name") or None, body.get("username") or None
        if access and refresh:
            return es_error(
                400,
                "illegal_argument_exception",
                "only one of [token, refresh_token] may be sent per request",
            )
        previously = 0
        if realm or user:
            if access or refresh:
                return es_error(400, "action_request_validation_exception", "token and user given")
            count = self.state.invalidate_user(realm, user)
        elif access or refresh:
            given = access or refresh
            assert given is not None
            _, count = self.state.invalidate(access, refresh)
            previously = int(count == 0 and self.state.was_invalidated(given))
        else:
            return es_error(400, "action_request_validation_exception", "token is missing")
        payload = {
            "invalidated_tokens": count,
            "previously_invalidated_tokens": previously,
            "error_count": 0,
        }
        return json_reply(200 if count or previously else 404, payload)


def oidc_metadata(grant: Grant) -> dict[str, str]:
    """What the Elasticsearch OIDC realm puts in the user metadata: every claim as
    ``oidc(<claim>)`` (populate_user_metadata, its default)."""
    return {f"oidc({k})": v for k, v in grant.claims.items()}


def unsigned_jwt(claims: dict[str, str]) -> str:
    """The demo OP's ID token for a code login (a demo: not signed)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}."


def jwt_claims(token: str) -> dict[str, Any] | None:
    """A JWT's payload, unverified (the demo checks no signatures)."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return None
    return data if isinstance(data, dict) else None


# --------------------------------------------------------------------------- server


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    app: DemoApp
    request_log: RequestLog

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Only the exception type: messages may carry request data.
        exc = sys.exc_info()[1]
        print(f"demo upstream: connection error: {type(exc).__name__}", file=sys.stderr)

    def server_close(self) -> None:
        super().server_close()
        if hasattr(self, "request_log"):
            self.request_log.close()


class DemoServer6(DemoServer):
    address_family = socket.AF_INET6


class DemoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "demo-upstream/1.0"

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        # The default access log prints the request line, query string (tickets,
        # SAML messages) included: never.
        return

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._handle()

    def _handle(self) -> None:
        server = cast(DemoServer, self.server)
        target = self.path
        if target.lower().startswith(("http://", "https://")):  # absolute-form
            parts = urlsplit(target)
            raw_path, raw_query = parts.path or "/", parts.query
        else:
            raw_path, _, raw_query = target.partition("?")
            raw_query = raw_query.partition("#")[0]
        path = normalise_path(raw_path)
        query = parse_qsl(raw_query, keep_blank_values=True)
        cookies = parse_cookies(self.headers.get_all("Cookie") or [])
        authorization = self.headers.get("Authorization")

        if path.startswith("/__demo/"):
            self._send(self._control(server, path))
            return
        server.request_log.record(
            {
                "method": self.command,
                "path": raw_path,
                "query_keys": [key for key, _ in query],
                "cookies": {name: fingerprint(value) for name, value in cookies.items()},
                "authorization": fingerprint(authorization) if authorization is not None else None,
                "time": utc_now_text(),
            }
        )
        body = self._read_body()
        if isinstance(body, Reply):
            self._send(body)
            return
        request = Request(self.command, raw_path, path, query, self.headers, cookies, body)
        try:
            reply = server.app.dispatch(request)
        except Exception as exc:  # never let bad input kill the handler thread
            print(f"demo upstream: internal error: {type(exc).__name__}", file=sys.stderr)
            reply = json_reply(500, {"error": "internal_error"})
        self._send(reply)

    def _control(self, server: DemoServer, path: str) -> Reply:
        body = self._read_body()
        if isinstance(body, Reply):
            return body
        if path == "/__demo/requests" and self.command == "GET":
            return json_reply(200, server.request_log.entries())
        if path == "/__demo/reset" and self.command == "POST":
            server.request_log.reset()
            return json_reply(200, {"reset": True})
        return json_reply(404, {"error": "not_found"})

    def _read_body(self) -> bytes | Reply:
        if self.headers.get("Transfer-Encoding"):
            return json_reply(411, {"error": "length_required"}, close=True)
        values = {v.strip() for v in self.headers.get_all("Content-Length") or []}
        if not values:
            return b""
        if len(values) > 1 or not next(iter(values)).isdigit():
            return json_reply(400, {"error": "bad_content_length"}, close=True)
        length = int(next(iter(values)))
        if length > MAX_BODY_BYTES:
            # Drain a moderately large body first, so the client reads the 413
            # instead of a connection reset; then close the connection.
            if length <= MAX_DRAIN_BYTES:
                while length > 0 and (chunk := self.rfile.read(min(length, 65536))):
                    length -= len(chunk)
            return json_reply(413, {"error": "body_too_large"}, close=True)
        return self.rfile.read(length) if length else b""

    def _send(self, reply: Reply) -> None:
        if reply.close:
            self.close_connection = True
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if reply.close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and reply.body:
            self.wfile.write(reply.body)
        self.wfile.flush()


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def make_server(
    host: str = "127.0.0.1",
    port: int = 9000,
    log_path: str | Path | None = None,
    cas_url: str | None = None,
) -> DemoServer:
    """Bind (port 0: any free port) and wire the app; call ``serve_forever()``."""
    server_cls = DemoServer6 if ":" in host else DemoServer
    server = server_cls((host, port), DemoHandler)
    base_url = f"http://{_url_host(host)}:{server.server_address[1]}"
    server.app = DemoApp(DemoState(), base_url, cas_url or base_url + "/cas")
    server.request_log = RequestLog(log_path)
    return server


def listen_url(server: DemoServer, host: str, scheme: str = "http") -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{server.server_address[1]}"


def serve_tls(server: DemoServer, cert_file: str, key_file: str) -> None:
    """Speak HTTPS (a cluster endpoint with its own CA, for the TLS tests)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    app = server.app
    app.base_url = app.base_url.replace("http://", "https://", 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000, help="0 picks a free port")
    parser.add_argument("--log", default=None, help="append one JSON line per request here")
    parser.add_argument("--cas-url", default=None, help="default: http://HOST:PORT/cas")
    parser.add_argument("--tls-cert", default=None, help="PEM certificate chain: serve HTTPS")
    parser.add_argument("--tls-key", default=None, help="PEM private key for --tls-cert")
    args = parser.parse_args(argv)

    try:
        server = make_server(args.host, args.port, args.log, args.cas_url)
    except OSError as exc:
        print(f"demo upstream: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    scheme = "http"
    if args.tls_cert:
        serve_tls(server, args.tls_cert, args.tls_key or args.tls_cert)
        scheme = "https"
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(
        target=server.serve_forever, args=(0.1,), name="demo-upstream", daemon=True
    )
    thread.start()
    print(f"demo upstream listening on {listen_url(server, args.host, scheme)}", flush=True)
    while not stop.wait(0.5):
        if not thread.is_alive():
            break
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
