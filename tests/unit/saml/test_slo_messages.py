"""Parsing and checking the IdP's single-logout messages (issue 13)."""

from __future__ import annotations

import pytest
from slotest import IDP_ENTITY, SP_SLO, logout_request_xml, logout_response_xml

from gateway.saml.slo_messages import (
    MESSAGE_LIFETIME,
    SAMLMessageError,
    check_message,
    parse_instant,
    parse_logout_request,
    parse_logout_response,
    replay_window_end,
)

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
SKEW = 180.0


@pytest.mark.parametrize(
    "text",
    [
        "2027-01-15T08:00:00Z",
        "2027-01-15T08:00:00.000Z",
        "2027-01-15T08:00:00.0000001Z",  # .NET writes seven digits: cut, never rounded up
        "2027-01-15T08:00:00+00:00",
        "2027-01-15T09:00:00+01:00",
        "2027-01-15T08:00:00",  # no zone: UTC
        " 2027-01-15T08:00:00Z ",
    ],
)
def test_parse_instant_forms(text):
    assert parse_instant(text, "IssueInstant") == NOW


@pytest.mark.parametrize(
    "text",
    ["", None, "2027-01-15 08:00:00Z", "20270115T080000Z", "yesterday", "2027-13-45T08:00:00Z"],
)
def test_parse_instant_refuses(text):
    with pytest.raises(SAMLMessageError, match="IssueInstant"):
        parse_instant(text, "IssueInstant")


def test_logout_request_fields():
    msg = parse_logout_request(
        logout_request_xml(now=NOW, session_indexes=("_a", "_b", "_a"), not_on_or_after=NOW + 60)
    )
    assert (msg.id, msg.issuer, msg.destination) == ("_idp-req-1", IDP_ENTITY, SP_SLO)
    assert (msg.issue_instant, msg.not_on_or_after) == (NOW, NOW + 60)
    assert msg.name_id.value == "alice@example.com"
    assert msg.name_id.format == "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    assert msg.session_indexes == ("_a", "_b")


@pytest.mark.parametrize(
    ("xml", "why"),
    [
        (b"<x/>", "not a samlp:LogoutRequest"),
        (logout_request_xml(now=NOW).replace(b'Version="2.0"', b'Version="1.1"'), "Version"),
        (logout_request_xml(now=NOW).replace(b'ID="_idp-req-1" ', b""), "no ID"),
        (
            logout_request_xml(now=NOW).replace(
                b"<samlp:SessionIndex>", b"<saml:NameID>b</saml:NameID><samlp:SessionIndex>"
            ),
            "exactly one NameID",
        ),
        (logout_request_xml(now=NOW, name_id=" "), "NameID is empty"),
        (logout_request_xml(now=NOW, session_indexes=[f"_{i}" for i in range(17)]), "more than 16"),
        (logout_request_xml(now=NOW, name_id="x" * 1025), "longer than 1024"),
        (b"<a>" * 10 + b"x" * 70000, "larger than"),
        (logout_request_xml(now=NOW, prolog='<!DOCTYPE x [<!ENTITY e "v">]>'), "DTDForbidden"),
    ],
)
def test_logout_request_refusals(xml, why):
    with pytest.raises(SAMLMessageError, match=why):
        parse_logout_request(xml)


def test_logout_response_fields_and_status():
    xml = logout_response_xml(now=NOW, in_response_to="_r1").replace(
        b'"/></samlp:Status>',
        b'"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:PartialLogout"/>'
        b"</samlp:StatusCode></samlp:Status>",
    )
    msg = parse_logout_response(xml)
    assert (msg.id, msg.in_response_to, msg.not_on_or_after) == ("_idp-resp-1", "_r1", None)
    assert msg.status.endswith(":Success") and msg.sub_status.endswith(":PartialLogout")
    assert msg.status_text().endswith("Success / urn:oasis:names:tc:SAML:2.0:status:PartialLogout")
    no_status = (
        logout_response_xml(now=NOW, in_response_to="_r")
        .replace(b"<samlp:Status>", b"<samlp:X>")
        .replace(b"</samlp:Status>", b"</samlp:X>")
    )
    with pytest.raises(SAMLMessageError, match="no StatusCode"):
        parse_logout_response(no_status)


def check(msg, now=NOW, sp_slo_url=SP_SLO):
    check_message(msg, idp_entity_id=IDP_ENTITY, sp_slo_url=sp_slo_url, now=now, clock_skew=SKEW)


def test_time_window_edges():
    msg = parse_logout_request(logout_request_xml(now=NOW))
    check(msg, now=NOW - SKEW)  # issued "in the future" within the skew
    with pytest.raises(SAMLMessageError, match="future"):
        check(msg, now=NOW - SKEW - 1)
    check(msg, now=NOW + MESSAGE_LIFETIME + SKEW)
    with pytest.raises(SAMLMessageError, match="expired"):
        check(msg, now=NOW + MESSAGE_LIFETIME + SKEW + 1)
    assert replay_window_end(msg, SKEW) > NOW + MESSAGE_LIFETIME + SKEW


def test_destination_is_checked_only_when_configured():
    msg = parse_logout_request(logout_request_xml(now=NOW, destination="https://any.example/"))
    check(msg, sp_slo_url=None)
    with pytest.raises(SAMLMessageError, match="Destination"):
        check(msg)


@pytest.mark.parametrize(
    "in_response_to", ["_idp-req-1", "4bdd0d7f-digit-first", 'quote"and<angle>&amp']
)
def test_our_logout_response_is_schema_valid_and_round_trips(protocol_schema, in_response_to):
    from datetime import UTC, datetime

    from gateway.saml.logout_request import new_request_id
    from gateway.saml.logout_response import logout_response_xml as ours

    xml = ours(
        response_id=new_request_id(),
        issue_instant=datetime.fromtimestamp(NOW, UTC),
        destination="https://idp.example.com/slo",
        issuer="http://127.0.0.1:8080/",
        in_response_to=in_response_to,
    )
    if in_response_to == "_idp-req-1":
        # InResponseTo is an NCName in the schema: valid whenever the IdP's ID was.
        protocol_schema.validate(xml.decode())
    msg = parse_logout_response(xml)  # whatever the IdP's ID was, echoed intact
    assert (msg.in_response_to, msg.status, msg.issue_instant) == (
        in_response_to,
        "urn:oasis:names:tc:SAML:2.0:status:Success",
        NOW,
    )
