"""CAS single logout, route `cas_slo` (issue 13, SPEC §10.1): the CAS server's
back-channel POST and the browser's front-channel GET, through the engine."""

from __future__ import annotations

import base64
import dataclasses
import json
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlencode

import pytest
from gwtest import KEY, Clock, audit_records, make_gateway, req, run

from gateway.audit import AuditEvent
from gateway.audit.flood import credential_free
from gateway.cas_slo_message import (
    CasSloError,
    back_channel_tickets,
    form_values,
    front_channel_tickets,
    valid_callback,
)
from gateway.client_address import client_in
from gateway.config.addresses import as_source_network
from gateway.credentials import SESSION, TICKET, Fingerprinter
from gateway.engine import Gateway
from gateway.http import Forward, Request, Respond, Response
from gateway.store import StoreError
from gateway.store.memory import MemoryStore

FP = Fingerprinter(KEY)
CAS_SERVER = "10.20.0.5"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
API = "/web/api/v2/clusters"

# What real servers send (REFERENCE "Second round"): django-cas-server (empty
# NameID in its own namespace declaration, µs +00:00 IssueInstant, an ID that
# may start with a digit, no Issuer) and Apereo CAS (@NOT_USED@).
DJANGO_CAS = """<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"
 ID="4bdd0d7fdbd0b3ba6e27b7b2c0f4a1d8" Version="2.0" IssueInstant="2026-03-01T10:11:12.123456+00:00">
<saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"></saml:NameID>
<samlp:SessionIndex>{ticket}</samlp:SessionIndex>
</samlp:LogoutRequest>"""
APEREO = (
    '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"'
    ' xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="LR-1-abc" Version="2.0"'
    ' IssueInstant="2026-03-01T10:11:12Z"><saml:NameID>@NOT_USED@</saml:NameID>'
    "<samlp:SessionIndex>{ticket}</samlp:SessionIndex></samlp:LogoutRequest>"
)
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">
<samlp:SessionIndex>&lol2;</samlp:SessionIndex></samlp:LogoutRequest>"""


def cas_gateway(tmp: Path, store: MemoryStore | None = None, **overrides: Any) -> Gateway:
    slo = {"allowed_sources": ["10.20.0.0/28", "2001:db8::/64"], **overrides.pop("slo", {})}
    return make_gateway(tmp, backend=store or MemoryStore(), cas={"slo": slo}, **overrides)


def at(request: Request, client: str | None) -> Request:
    return dataclasses.replace(request, client=client)


def slo_post(ticket: str, *, client: str = CAS_SERVER, path: str = "/web/", xml: str = DJANGO_CAS):
    body = urlencode({"logoutRequest": xml.format(ticket=ticket)}).encode()
    return at(req("POST", path, {**FORM, "Content-Length": str(len(body))}, body), client)


def login(gw: Gateway, ticket: str, session: str) -> None:
    """What the gateway learns when a CAS ticket login passes it."""
    answer = Response(302, (("set-cookie", f"JSESSIONID={session}; Path=/; HttpOnly"),))
    run(gw.handle_response(req("GET", f"/web/?ticket={ticket}"), answer))


def use(gw: Gateway, session: str) -> Forward | Respond:
    return run(gw.handle_request(req("GET", API, {"Cookie": f"JSESSIONID={session}"})))


def deflated(xml: str, *, wrapped: bool = False) -> str:
    if wrapped:  # Java's `new Deflater()`: zlib header and checksum (Apereo CAS)
        return base64.b64encode(zlib.compress(xml.encode())).decode()
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(c.compress(xml.encode()) + c.flush()).decode()


# --------------------------------------------------------------------------- back-channel


@pytest.mark.parametrize("xml", [DJANGO_CAS, APEREO], ids=["django-cas-server", "apereo"])
def test_back_channel_revokes_the_session_learned_for_the_ticket(tmp_path, xml):
    gw = cas_gateway(tmp_path)
    login(gw, "ST-1-abc", "sess-1")
    assert use(gw, "sess-1") == Forward()
    answer = run(gw.handle_request(slo_post("ST-1-abc", xml=xml)))
    assert isinstance(answer, Respond)
    assert (answer.status, answer.body) == (200, b"")
    assert ("cache-control", "no-store") in answer.headers
    assert use(gw, "sess-1").status == 401
    logout = audit_records(tmp_path / "audit.jsonl")[0]
    assert (logout["event"], logout["route"], logout["reason"], logout["outcome"]) == (
        "logout",
        "cas_slo",
        "backchannel",
        "success",
    )
    assert logout["credentials"] == [FP(SESSION, "sess-1"), FP(TICKET, "ST-1-abc")]
    assert (logout["status"], logout["client"]) == (200, CAS_SERVER)
    text = (tmp_path / "audit.jsonl").read_text()
    assert "ST-1-abc" not in text and "sess-1" not in text


def test_back_channel_on_any_path_with_a_query(tmp_path):
    gw = cas_gateway(tmp_path)
    login(gw, "ST-2", "sess-2")
    answer = run(gw.handle_request(slo_post("ST-2", path="/web/index.html;x=1?lang=en")))
    assert answer.status == 200 and use(gw, "sess-2").status == 401


def test_unknown_ticket_is_answered_200_and_audited(tmp_path):
    gw = cas_gateway(tmp_path)
    answer = run(gw.handle_request(slo_post("ST-never-seen")))
    assert (answer.status, answer.body) == (200, b"")
    logout = audit_records(tmp_path / "audit.jsonl")[0]
    assert (logout["event"], logout["outcome"]) == ("logout", "unknown_ticket")
    assert logout["credentials"] == [FP(TICKET, "ST-never-seen")]


def test_repeated_logout_for_a_ticket_is_already_revoked(tmp_path):
    gw = cas_gateway(tmp_path)
    login(gw, "ST-3", "sess-3")
    run(gw.handle_request(slo_post("ST-3")))
    run(gw.handle_request(slo_post("ST-3")))
    outcomes = [r["outcome"] for r in audit_records(tmp_path / "audit.jsonl")]
    assert outcomes == ["success", "already_revoked"]


def test_source_outside_allowed_sources_is_refused_403_and_changes_nothing(tmp_path):
    gw = cas_gateway(tmp_path)
    login(gw, "ST-4", "sess-4")
    forged = slo_post("ST-4", client="10.20.0.99")
    forged = dataclasses.replace(
        forged, headers=(*forged.headers, ("x-forwarded-for", CAS_SERVER))
    )  # never trusted: the TCP peer is what counts
    answer = run(gw.handle_request(forged))
    assert isinstance(answer, Respond) and answer.status == 403
    assert json.loads(answer.body) == {"error": "source_not_allowed"}
    assert use(gw, "sess-4") == Forward()  # still valid
    (record,) = audit_records(tmp_path / "audit.jsonl")
    assert (record["event"], record["route"], record["status"], record["client"]) == (
        "invalid_request",
        "cas_slo",
        403,
        "10.20.0.99",
    )
    assert record["reason"] == "source not in cas.slo.allowed_sources"


@pytest.mark.parametrize(
    ("client", "allowed"),
    [
        ("10.20.0.5", True),
        ("::ffff:10.20.0.5", True),  # a dual-stack listener's view of an IPv4 peer
        ("2001:db8::7", True),
        ("10.20.0.16", False),
        ("2001:db8:1::7", False),
        ("fe80::1%eth0", False),
        ("", False),
        (None, False),
        ("not-an-ip", False),
    ],
)
def test_client_in_allowed_sources(client, allowed):
    networks = [as_source_network("10.20.0.0/28"), as_source_network("2001:db8::/64")]
    assert client_in(client, networks) is allowed


def test_forward_mode_revokes_then_forwards(tmp_path):
    gw = cas_gateway(tmp_path, routes={"cas_slo": {"mode": "forward"}})
    login(gw, "ST-5", "sess-5")
    assert run(gw.handle_request(slo_post("ST-5"))) == Forward(route="cas_slo")
    assert use(gw, "sess-5").status == 401
    record = audit_records(tmp_path / "audit.jsonl")[0]
    assert (record["status"], record["forwarded"]) == (None, True)


def test_forward_mode_still_refuses_foreign_sources(tmp_path):
    gw = cas_gateway(tmp_path, routes={"cas_slo": {"mode": "forward"}})
    assert run(gw.handle_request(slo_post("ST-6", client="192.0.2.1"))).status == 403


def test_inactive_without_allowed_sources_posts_are_ordinary(tmp_path):
    gw = make_gateway(tmp_path)  # cas.slo.allowed_sources: []
    assert gw.config.routes.cas_slo is None
    login(gw, "ST-7", "sess-7")
    assert run(gw.handle_request(slo_post("ST-7"))) == Forward()
    assert use(gw, "sess-7") == Forward()
    assert audit_records(tmp_path / "audit.jsonl") == []


def test_replicas_sharing_a_store_both_refuse(tmp_path):
    """The replica the CAS server posts to never saw the login (java-cas-client #173)."""
    store = MemoryStore()
    a = cas_gateway(tmp_path / "a", store)
    b = cas_gateway(tmp_path / "b", store)
    login(a, "ST-8", "sess-8")
    assert run(b.handle_request(slo_post("ST-8"))).status == 200
    assert use(a, "sess-8").status == 401 and use(b, "sess-8").status == 401


def test_store_failure_is_503_and_never_reported_done(tmp_path):
    class Failing(MemoryStore):
        async def session_for_ticket(self, ticket_fp, now):
            raise StoreError("down")

    gw = cas_gateway(tmp_path, Failing())
    answer = run(gw.handle_request(slo_post("ST-9")))
    assert answer.status == 503
    assert audit_records(tmp_path / "audit.jsonl")[0]["outcome"] == "error"


# --------------------------------------------------------------------------- what is one


def test_not_a_cas_message_is_an_ordinary_request(tmp_path):
    gw = cas_gateway(tmp_path)
    login(gw, "ST-10", "sess-10")
    plain = [
        at(req("POST", "/web/", FORM, b"name=x&logoutRequestx=1"), CAS_SERVER),
        at(
            req("POST", "/web/", {"Content-Type": "application/json"}, b'{"logoutRequest": 1}'),
            CAS_SERVER,
        ),
        at(req("PUT", "/web/", FORM, b"logoutRequest=x"), CAS_SERVER),
        at(req("GET", "/web/?logoutRequest=x"), CAS_SERVER),  # front channel is off
        at(req("POST", "/web/", {**FORM, "Content-Encoding": "gzip"}, b"\x1f\x8b"), CAS_SERVER),
    ]
    for request in plain:
        assert run(gw.handle_request(request)) == Forward(), request
    assert audit_records(tmp_path / "audit.jsonl") == []


def test_oversized_form_post_is_an_ordinary_request(tmp_path):
    """SPEC §10.1: a CAS message is small; a larger form POST is never read."""
    gw = cas_gateway(tmp_path, limits={"max_body_bytes": 1024})
    login(gw, "ST-11", "sess-11")
    big = slo_post("ST-11" + " " * 2000)
    assert len(big.body) > 1024
    assert run(gw.handle_request(big)) == Forward()
    assert not gw.needs_body(dataclasses.replace(big, body=None))
    assert use(gw, "sess-11") == Forward()


def test_escaped_field_name_is_still_recognised(tmp_path):
    gw = cas_gateway(tmp_path)
    login(gw, "ST-12", "sess-12")
    xml = quote_plus(DJANGO_CAS.format(ticket="ST-12"))
    request = at(req("POST", "/web/", FORM, f"logout%52equest={xml}".encode()), CAS_SERVER)
    assert run(gw.handle_request(request)).status == 200
    assert use(gw, "sess-12").status == 401


def test_form_posts_are_never_streamed(tmp_path):
    gw = cas_gateway(tmp_path)
    headers_only = req("POST", "/anything", {**FORM, "Content-Length": "900"})
    assert gw.needs_body(headers_only)
    assert not gw.needs_body(req("POST", "/anything", {**FORM, "Content-Length": "99999999"}))
    assert not gw.needs_body(req("POST", "/anything", {"Content-Type": "text/plain"}))


def test_route_of_names_the_content_matched_route(tmp_path):
    gw = cas_gateway(tmp_path)
    assert gw.route_of(slo_post("ST-13")) == "cas_slo"
    assert gw.route_of(req("GET", "/web/")) is None


# --------------------------------------------------------------------------- hostile input


def test_dtd_and_entities_in_logout_request_are_refused_400(tmp_path):
    gw = cas_gateway(tmp_path)
    body = urlencode({"logoutRequest": BILLION_LAUGHS}).encode()
    answer = run(gw.handle_request(at(req("POST", "/web/", FORM, body), CAS_SERVER)))
    assert answer.status == 400 and json.loads(answer.body) == {"error": "invalid_request"}
    (record,) = audit_records(tmp_path / "audit.jsonl")
    assert record["event"] == "invalid_request" and "DTDForbidden" in record["reason"]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("not xml at all", "not well-formed"),
        (
            "<samlp:Response xmlns:samlp='urn:oasis:names:tc:SAML:2.0:protocol'/>",
            "not a LogoutRequest",
        ),
        ("<LogoutRequest><SessionIndex> </SessionIndex></LogoutRequest>", "no SessionIndex"),
        ("<LogoutRequest><SessionIndex>ST-\x01</SessionIndex></LogoutRequest>", "not well-formed"),
        (
            "<LogoutRequest>"
            + "".join(f"<SessionIndex>ST-{i}</SessionIndex>" for i in range(17))
            + "</LogoutRequest>",
            "more than 16",
        ),
    ],
)
def test_malformed_messages_are_refused_400(tmp_path, value, why):
    gw = cas_gateway(tmp_path)
    body = urlencode({"logoutRequest": value}).encode()
    answer = run(gw.handle_request(at(req("POST", "/web/", FORM, body), CAS_SERVER)))
    assert answer.status == 400
    assert why in audit_records(tmp_path / "audit.jsonl")[0]["reason"]


def test_foreign_source_is_refused_before_the_message_is_parsed(tmp_path):
    gw = cas_gateway(tmp_path)
    body = urlencode({"logoutRequest": BILLION_LAUGHS}).encode()
    answer = run(gw.handle_request(at(req("POST", "/web/", FORM, body), "203.0.113.1")))
    assert answer.status == 403


# --------------------------------------------------------------------------- front-channel


def front(gw: Gateway, value: str, callback: str | None = None, client: str = "198.51.100.4"):
    params = {"callback": callback} if callback is not None else {}
    query = urlencode({**params, "logoutRequest": value, "_": "1700000000000"})
    return run(gw.handle_request(at(req("GET", f"/web/?{query}"), client)))


@pytest.mark.parametrize("wrapped", [False, True], ids=["raw-deflate", "zlib"])
def test_front_channel_jsonp_revokes_and_answers_callback_true(tmp_path, wrapped):
    gw = cas_gateway(tmp_path, slo={"front_channel": True})
    login(gw, "ST-20", "sess-20")
    answer = front(gw, deflated(APEREO.format(ticket="ST-20"), wrapped=wrapped), "jQuery3_1.cb$")
    assert isinstance(answer, Respond) and answer.status == 200
    assert answer.body == b"jQuery3_1.cb$(true)"
    assert ("content-type", "application/javascript; charset=utf-8") in answer.headers
    assert ("x-content-type-options", "nosniff") in answer.headers
    assert use(gw, "sess-20").status == 401
    record = audit_records(tmp_path / "audit.jsonl")[0]
    assert (record["reason"], record["outcome"]) == ("frontchannel", "success")


def test_front_channel_without_callback_and_with_plain_xml(tmp_path):
    gw = cas_gateway(tmp_path, slo={"front_channel": True})
    login(gw, "ST-21", "sess-21")
    answer = front(gw, DJANGO_CAS.format(ticket="ST-21"))
    assert (answer.status, answer.body) == (200, b"")
    assert use(gw, "sess-21").status == 401


def test_front_channel_needs_no_allowed_source(tmp_path):
    """The browser relays it from anywhere; the ticket is the secret."""
    gw = cas_gateway(tmp_path, slo={"front_channel": True})
    login(gw, "ST-22", "sess-22")
    assert front(gw, deflated(APEREO.format(ticket="ST-22")), client="203.0.113.50").status == 200
    assert use(gw, "sess-22").status == 401


@pytest.mark.parametrize(
    "callback",
    ["alert(1);x", "</script><script>alert(1)</script>", "a b", "", "x" * 65, "cb()"],
)
def test_jsonp_callback_with_script_is_refused_400_never_echoed(tmp_path, callback):
    gw = cas_gateway(tmp_path, slo={"front_channel": True})
    login(gw, "ST-23", "sess-23")
    answer = front(gw, deflated(APEREO.format(ticket="ST-23")), callback)
    assert answer.status == 400 and json.loads(answer.body) == {"error": "invalid_request"}
    assert callback.encode() not in answer.body or not callback
    assert use(gw, "sess-23") == Forward()  # a refused request revokes nothing
    assert audit_records(tmp_path / "audit.jsonl")[0]["event"] == "invalid_request"


def test_deflate_bomb_in_front_channel_is_refused_at_the_cap(tmp_path):
    gw = cas_gateway(tmp_path, slo={"front_channel": True})
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = bomb.compress(b"<" + b"A" * (50 * 1024 * 1024)) + bomb.flush()
    answer = front(gw, base64.b64encode(data).decode())
    assert answer.status == 400
    assert "inflates to more than" in audit_records(tmp_path / "audit.jsonl")[0]["reason"]


def test_front_channel_garbage_is_400(tmp_path):
    gw = cas_gateway(tmp_path, slo={"front_channel": True})
    assert front(gw, "%%%not-base64").status == 400


# --------------------------------------------------------------------------- message parsing


def test_message_parsing_is_lenient_on_shape():
    assert back_channel_tickets(DJANGO_CAS.format(ticket=" ST-1 ")) == ("ST-1",)
    assert back_channel_tickets(APEREO.format(ticket="ST-2")) == ("ST-2",)
    # no namespace at all, as some hand-rolled servers send it
    assert back_channel_tickets(
        "<LogoutRequest><SessionIndex>ST-3</SessionIndex></LogoutRequest>"
    ) == ("ST-3",)
    two = "<LogoutRequest><SessionIndex>ST-4</SessionIndex><SessionIndex>ST-4</SessionIndex><SessionIndex>ST-5</SessionIndex></LogoutRequest>"
    assert back_channel_tickets(two) == ("ST-4", "ST-5")
    # a `+` of the base64 arriving as a space (not escaped by the sender)
    value = deflated(APEREO.format(ticket="ST-6"))
    assert front_channel_tickets(value.replace("+", " ")) == ("ST-6",)


def test_form_values_and_callback_names():
    assert form_values("a=1&logoutRequest=x&logoutRequest=y") == ["x", "y"]
    assert form_values("a=1") is None
    assert form_values("logout%52equest=%3Cx%3E") == ["<x>"]
    assert valid_callback("jQuery1_2.$cb") and not valid_callback("a-b")
    with pytest.raises(CasSloError):
        back_channel_tickets("")


def test_unknown_ticket_records_are_flood_limited():
    """Anyone can make up a ticket on the front channel; nothing is revoked."""
    assert credential_free(AuditEvent("logout", outcome="unknown_ticket", credentials=("a",)))
    assert not credential_free(AuditEvent("logout", outcome="success", credentials=("a",)))


def test_clock_is_not_consulted_for_freshness(tmp_path):
    """No IssueInstant check (SPEC §10.1): a message from 2026 works in 2030."""
    gw = cas_gateway(tmp_path, clock=Clock(1_900_000_000.0))
    login(gw, "ST-30", "sess-30")
    assert run(gw.handle_request(slo_post("ST-30"))).status == 200
