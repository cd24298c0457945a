"""The OIDC round in the core (SPEC §10.4-§10.5): learning from oidc/authenticate,
oidc_logout, DELETE /_security/oauth2/token, the back-channel logout receiver."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from gwtest import Clock, audit_records, make_gateway, req
from oidctest import (
    CLIENT_ID,
    FORM_HEADERS,
    ISSUER,
    OP,
    authenticate_answer,
    form,
    hs256_with_public_key,
    oidc_config,
    unsigned_token,
)

from gateway.credentials import TOKEN
from gateway.http import Forward, Respond, Response
from gateway.principals import oidc_sid_key, oidc_sub_key, user_key
from gateway.store import StoreError
from gateway.store.memory import MemoryStore

JSON = {"Content-Type": "application/json"}
BACKCHANNEL = "/-/oidc/backchannel-logout"
TOKEN_API = "/_security/oauth2/token"


def run(coro):
    return asyncio.run(coro)


def body(answer: Respond):
    return json.loads(answer.body)


@pytest.fixture(scope="module")
def op() -> OP:
    return OP()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gw(tmp_path, op, clock):
    return oidc_gateway(tmp_path, op, clock)


def oidc_gateway(tmp_path, op, clock, routes=None, store=None, **oidc):
    jwks = op.write_jwks(tmp_path / "op")
    return make_gateway(
        tmp_path,
        backend=store,
        clock=clock,
        routes=routes or {"saml_logout": None},
        oidc=oidc_config(jwks, **oidc),
    )


def login(gw, access, refresh, user="alice", **identity):
    request = req(
        "POST",
        "/_security/oidc/authenticate",
        {**JSON, "Accept-Encoding": "gzip"},
        json.dumps({"redirect_uri": "https://kibana/cb?code=x&state=y", "state": "y"}).encode(),
    )
    decision = run(gw.handle_request(request))
    assert isinstance(decision, Forward) and "accept-encoding" in decision.drop_headers
    answer = authenticate_answer(access, refresh, user, **identity)
    run(gw.handle_response(request, Response(200, (), json.dumps(answer).encode())))


def refresh_grant(gw, old, new_access, new_refresh):
    request = req(
        "POST",
        TOKEN_API,
        JSON,
        json.dumps({"grant_type": "refresh_token", "refresh_token": old}).encode(),
    )
    decision = run(gw.handle_request(request))
    if isinstance(decision, Respond):
        return decision
    answer = {"access_token": new_access, "refresh_token": new_refresh, "expires_in": 1200}
    run(gw.handle_response(request, Response(200, (), json.dumps(answer).encode())))
    return decision


def bearer(gw, token):
    request = req("GET", "/_security/_authenticate", {"Authorization": f"Bearer {token}"})
    decision = run(gw.handle_request(request))
    return 200 if isinstance(decision, Forward) else decision.status


def backchannel(gw, token, headers=FORM_HEADERS, method="POST", data=None):
    return run(
        gw.handle_request(req(method, BACKCHANNEL, headers, form(token) if data is None else data))
    )


def revoked(gw, *tokens):
    fps = [gw.fingerprint(TOKEN, t) for t in tokens]
    return len(run(gw.store.revoked(fps, gw.clock())))


def records(gw):
    return audit_records(gw.config.audit.path)


# --------------------------------------------------------------------------- learning


def test_authenticate_answer_lists_the_pair_under_sid_sub_and_user(gw):
    login(gw, "acc-a1", "ref-a1", sub="sub-alice", sid="sid-1")
    fp, now = gw.fingerprint, gw.clock()
    pair = {fp(TOKEN, "acc-a1"), fp(TOKEN, "ref-a1")}

    def listed(key):
        return {e.fingerprint for e in run(gw.store.indexed_credentials(key, now))}

    assert listed(oidc_sid_key(fp, ISSUER, "sid-1")) == pair
    assert listed(oidc_sub_key(fp, ISSUER, "sub-alice")) == pair
    assert listed(user_key(fp, "alice")) == pair
    record = run(gw.store.get_token(fp(TOKEN, "acc-a1"), now))
    assert (record.username, record.realm, record.oidc_sid) == ("alice", "oidc1", "sid-1")


def test_refreshed_pair_stays_listed_under_the_session(gw):
    login(gw, "acc-a1", "ref-a1", sub="sub-alice", sid="sid-1")
    assert isinstance(refresh_grant(gw, "ref-a1", "acc-a2", "ref-a2"), Forward)
    fp, now = gw.fingerprint, gw.clock()
    listed = {
        e.fingerprint
        for e in run(gw.store.indexed_credentials(oidc_sid_key(fp, ISSUER, "sid-1"), now))
    }
    assert {fp(TOKEN, t) for t in ("acc-a1", "ref-a1", "acc-a2", "ref-a2")} == listed


def test_without_oidc_sub_metadata_the_username_is_the_sub_by_default(gw):
    login(gw, "acc-b1", "ref-b1", user="bob", sid=None, sub=None)
    fp = gw.fingerprint
    entries = run(gw.store.indexed_credentials(oidc_sub_key(fp, ISSUER, "bob"), gw.clock()))
    assert {e.fingerprint for e in entries} == {fp(TOKEN, "acc-b1"), fp(TOKEN, "ref-b1")}


def test_unreadable_or_tokenless_authenticate_answers_teach_nothing(gw):
    request = req("POST", "/_security/oidc/authenticate", JSON, b"{}")
    for answer in (b"", b"not json", b"[]", b'{"access_token": 5}', b'{"authentication": {}}'):
        run(gw.handle_response(request, Response(200, (), answer)))
    run(gw.handle_response(request, Response(200, (("content-encoding", "gzip"),), b"\x1f\x8b")))
    assert bearer(gw, "anything") == 200


# --------------------------------------------------------------------------- oidc_logout


def test_oidc_logout_forward_revokes_the_pair_then_forwards(gw):
    login(gw, "acc-a1", "ref-a1", sub="sub-alice", sid="sid-1")
    decision = run(
        gw.handle_request(req("POST", "/_security/oidc/logout", JSON, b'{"token": "acc-a1"}'))
    )
    assert decision == Forward(route="oidc_logout")
    assert bearer(gw, "acc-a1") == 401
    assert isinstance(refresh_grant(gw, "ref-a1", "x", "y"), Respond)
    rec = records(gw)[-3]  # the logout, then the two refused uses
    assert (rec["event"], rec["route"], rec["reason"], rec["outcome"]) == (
        "logout",
        "oidc_logout",
        "manual",
        "success",
    )
    assert rec["user"] == "alice" and rec["forwarded"] is True and rec["status"] is None


def test_oidc_logout_short_circuit_builds_the_rp_initiated_redirect(tmp_path, op, clock):
    gw = oidc_gateway(
        tmp_path,
        op,
        clock,
        routes={"saml_logout": None, "oidc_logout": {"mode": "short_circuit"}},
        end_session_url="https://op.example.com/logout?p=b2c_1",
        post_logout_redirect_url="https://kibana.example.com/logged_out?a=1&b=2",
    )
    login(gw, "acc-a1", "ref-a1", sub="s", sid="sid-1")
    answers = [
        run(gw.handle_request(req("POST", "/_security/oidc/logout", JSON, b'{"token": "acc-a1"}')))
        for _ in range(2)
    ]
    states = set()
    for answer in answers:
        assert answer.status == 200 and ("cache-control", "no-store") in answer.headers
        url = urlsplit(body(answer)["redirect"])
        assert (url.scheme, url.netloc, url.path) == ("https", "op.example.com", "/logout")
        params = parse_qs(url.query, strict_parsing=True)
        assert params["p"] == ["b2c_1"] and params["client_id"] == [CLIENT_ID]
        assert params["post_logout_redirect_uri"] == [
            "https://kibana.example.com/logged_out?a=1&b=2"
        ]
        assert len(params["state"][0]) >= 32
        states.add(params["state"][0])
    assert len(states) == 2  # a fresh state per logout
    assert bearer(gw, "acc-a1") == 401 and revoked(gw, "ref-a1") == 1
    assert [r["outcome"] for r in records(gw)[-3:-1]] == ["success", "already_revoked"]


def test_oidc_logout_revokes_an_unknown_token_and_refuses_mixed_sessions(gw):
    run(gw.handle_request(req("POST", "/_security/oidc/logout", JSON, b'{"token": "never-seen"}')))
    assert bearer(gw, "never-seen") == 401 and records(gw)[-2]["outcome"] == "unknown_token"
    login(gw, "acc-a1", "ref-a1", sid="s1")
    login(gw, "acc-b1", "ref-b1", user="bob", sid="s2")
    payload = json.dumps({"token": "acc-a1", "refresh_token": "ref-b1"}).encode()
    answer = run(gw.handle_request(req("POST", "/_security/oidc/logout", JSON, payload)))
    assert answer.status == 400 and revoked(gw, "acc-a1", "ref-b1") == 0


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"", 400),
        (b"{not json", 400),
        (b"[]", 400),
        (b"{}", 400),
        (b'{"token": ""}', 400),
        (b'{"token": 5}', 400),
        (b'{"token": "a", "token": "b"}', 400),
        (b'{"token": "a", "access_token": "b"}', 400),
    ],
)
def test_oidc_logout_malformed_bodies_are_refused_audited_not_forwarded(gw, data, status):
    answer = run(gw.handle_request(req("POST", "/_security/oidc/logout", JSON, data)))
    assert isinstance(answer, Respond) and answer.status == status
    assert body(answer)["status"] == status and set(body(answer)["error"]) == {"type", "reason"}
    assert records(gw)[-1]["event"] == "invalid_request"


def test_oidc_logout_413_and_415(gw):
    big = json.dumps({"token": "x" * 70_000}).encode()
    assert run(gw.handle_request(req("POST", "/_security/oidc/logout", JSON, big))).status == 413
    gz = {**JSON, "Content-Encoding": "gzip"}
    assert (
        run(gw.handle_request(req("POST", "/_security/oidc/logout", gz, b"\x1f\x8b"))).status == 415
    )
    assert [r["status"] for r in records(gw)] == [413, 415]


# --------------------------------------------------------------------------- token_invalidate


def delete(gw, payload):
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = req("DELETE", TOKEN_API, JSON, data)
    return request, run(gw.handle_request(request))


@pytest.mark.parametrize("field", ["token", "refresh_token"])
def test_invalidate_by_token_revokes_the_pair_then_forwards(gw, field):
    login(gw, "acc-a1", "ref-a1", sid="s1")
    given = "acc-a1" if field == "token" else "ref-a1"
    _, decision = delete(gw, {field: given})
    assert decision == Forward(route="token_invalidate")
    assert revoked(gw, "acc-a1", "ref-a1") == 2
    rec = records(gw)[-1]
    assert (rec["route"], rec["reason"], rec["outcome"], rec["user"]) == (
        "token_invalidate",
        "api",
        "success",
        "alice",
    )


def test_the_refresh_grant_on_the_same_path_is_untouched(gw):
    """Only DELETE is the route: a POST keeps the refresh-token check and learning."""
    login(gw, "acc-a1", "ref-a1")
    assert isinstance(refresh_grant(gw, "ref-a1", "acc-a2", "ref-a2"), Forward)
    assert gw.route_of(req("POST", TOKEN_API)) is None
    assert gw.route_of(req("DELETE", TOKEN_API)) == "token_invalidate"
    assert records(gw) == []
    _, forwarded = delete(gw, {"refresh_token": "ref-a2"})
    assert forwarded == Forward(route="token_invalidate")
    assert isinstance(refresh_grant(gw, "ref-a2", "x", "y"), Respond)  # revoked: refused
    assert bearer(gw, "acc-a1") == 401  # the whole lineage


@pytest.mark.parametrize(
    "payload",
    [
        {"username": "alice"},
        {"realm_name": "oidc1"},
        {"realm_name": "oidc1", "username": "alice"},
    ],
)
def test_invalidate_by_user_or_realm_waits_for_the_upstream(gw, payload):
    login(gw, "acc-a1", "ref-a1", sid="s1")
    login(gw, "acc-a2", "ref-a2", sid="s2")
    login(gw, "acc-c1", "ref-c1", user="carol", realm="other", sid="s3")
    request, decision = delete(gw, payload)
    assert decision == Forward(route="token_invalidate")
    assert gw.learns_from(TOKEN_API, "DELETE")
    assert revoked(gw, "acc-a1", "acc-a2") == 0 and records(gw) == []  # not before the answer
    answer = {"invalidated_tokens": 4, "previously_invalidated_tokens": 0, "error_count": 0}
    run(gw.handle_response(request, Response(200, (), json.dumps(answer).encode())))
    assert revoked(gw, "acc-a1", "ref-a1", "acc-a2", "ref-a2") == 4
    assert revoked(gw, "acc-c1", "ref-c1") == 0
    rec = records(gw)[-1]
    assert (rec["event"], rec["outcome"], rec["status"], rec["forwarded"]) == (
        "logout",
        "success",
        200,
        True,
    )
    assert len(rec["credentials"]) == 4


def test_invalidate_by_user_refused_upstream_revokes_nothing(gw):
    """An anonymous DELETE naming a user must not end that user's sessions."""
    login(gw, "acc-a1", "ref-a1", sid="s1")
    request, _ = delete(gw, {"username": "alice"})
    for status in (401, 403, 500):
        run(gw.handle_response(request, Response(status, (), b"{}")))
    assert revoked(gw, "acc-a1", "ref-a1") == 0 and bearer(gw, "acc-a1") == 200
    assert [r["event"] for r in records(gw)] == ["invalid_request"] * 3
    assert [r["status"] for r in records(gw)] == [401, 403, 500]


def test_invalidate_by_user_upstream_404_still_revokes_what_was_learned(gw):
    login(gw, "acc-a1", "ref-a1")
    request, _ = delete(gw, {"username": "alice"})
    run(gw.handle_response(request, Response(404, (), b"{}")))
    assert revoked(gw, "acc-a1", "ref-a1") == 2


@pytest.mark.parametrize(
    ("payload", "error_type"),
    [
        (b"", "parse_exception"),
        (b"{oops", "x_content_parse_exception"),
        (b"{}", "action_request_validation_exception"),
        (b'{"token": ""}', "action_request_validation_exception"),
        (b'{"username": "  "}', "action_request_validation_exception"),
        (b'{"token": "a", "refresh_token": "b"}', "illegal_argument_exception"),
        (b'{"token": "a", "username": "b"}', "action_request_validation_exception"),
        (b'{"token": 5}', "x_content_parse_exception"),
        (b'{"username": ["a"]}', "x_content_parse_exception"),
        (b'{"token": "a", "token": "b"}', "x_content_parse_exception"),
        (b'{"tokens": "a"}', "x_content_parse_exception"),
    ],
)
def test_invalidate_malformed_bodies_are_400_audited_not_forwarded(gw, payload, error_type):
    _, answer = delete(gw, payload)
    assert isinstance(answer, Respond) and answer.status == 400
    assert body(answer)["error"]["type"] == error_type and body(answer)["status"] == 400
    assert records(gw)[-1]["event"] == "invalid_request"
    assert records(gw)[-1]["route"] == "token_invalidate"


def test_invalidate_short_circuit_answers_elasticsearch_counts(tmp_path, op, clock):
    gw = oidc_gateway(
        tmp_path,
        op,
        clock,
        routes={"saml_logout": None, "token_invalidate": {"mode": "short_circuit"}},
    )
    login(gw, "acc-a1", "ref-a1")
    _, first = delete(gw, {"token": "acc-a1"})
    assert (first.status, body(first)) == (
        200,
        {"invalidated_tokens": 2, "previously_invalidated_tokens": 0, "error_count": 0},
    )
    _, again = delete(gw, {"refresh_token": "ref-a1"})
    assert body(again)["previously_invalidated_tokens"] == 2
    _, unknown = delete(gw, {"token": "never-seen"})
    assert unknown.status == 404 and body(unknown)["invalidated_tokens"] == 0
    assert bearer(gw, "never-seen") == 401  # deny-listed all the same
    # by user/realm: the upstream must authorize it, so it is forwarded in any mode
    _, by_user = delete(gw, {"username": "alice"})
    assert by_user == Forward(route="token_invalidate")


# --------------------------------------------------------------------------- back-channel


def two_sessions_and_a_stranger(gw):
    login(gw, "acc-a1", "ref-a1", sub="sub-alice", sid="sid-1")
    login(gw, "acc-a2", "ref-a2", sub="sub-alice", sid="sid-2")
    login(gw, "acc-b1", "ref-b1", user="bob", sub="sub-bob", sid="sid-3")


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_backchannel_sid_ends_that_session_only(gw, op, clock, alg):
    two_sessions_and_a_stranger(gw)
    answer = backchannel(gw, op.logout_token(alg, sid="sid-1", sub="sub-alice", now=clock.now))
    assert (answer.status, answer.body) == (200, b"")
    assert ("cache-control", "no-store") in answer.headers
    assert revoked(gw, "acc-a1", "ref-a1") == 2
    assert bearer(gw, "acc-a2") == 200 and bearer(gw, "acc-b1") == 200
    rec = records(gw)[-1]
    assert (rec["route"], rec["reason"], rec["outcome"], rec["user"], rec["status"]) == (
        "oidc_backchannel",
        "backchannel",
        "success",
        "alice",
        200,
    )


def test_backchannel_sub_only_ends_every_session_of_the_user(gw, op, clock):
    two_sessions_and_a_stranger(gw)
    answer = backchannel(gw, op.logout_token(sub="sub-alice", now=clock.now))
    assert answer.status == 200
    assert revoked(gw, "acc-a1", "ref-a1", "acc-a2", "ref-a2") == 4
    assert bearer(gw, "acc-b1") == 200


def test_backchannel_reaches_refreshed_pairs(gw, op, clock):
    login(gw, "acc-a1", "ref-a1", sub="sub-alice", sid="sid-1")
    refresh_grant(gw, "ref-a1", "acc-a2", "ref-a2")
    backchannel(gw, op.logout_token(sid="sid-1", now=clock.now))
    assert revoked(gw, "acc-a1", "ref-a1", "acc-a2", "ref-a2") == 4


def test_backchannel_for_another_issuer_session_ends_nothing(gw, op, clock):
    login(gw, "acc-x1", "ref-x1", sub="sub-alice", sid="sid-1", issuer="https://other-op.example")
    answer = backchannel(gw, op.logout_token(sid="sid-1", now=clock.now))
    assert answer.status == 200 and revoked(gw, "acc-x1") == 0
    assert [r for r in records(gw) if r["event"] == "logout"][-1]["outcome"] == "no_session"


def test_backchannel_sid_also_ends_the_subjects_sessionless_tokens(gw, op, clock):
    login(gw, "acc-n1", "ref-n1", sub="sub-alice", sid=None)  # OP sent no sid at login
    login(gw, "acc-a2", "ref-a2", sub="sub-alice", sid="sid-2")
    backchannel(gw, op.logout_token(sid="sid-1", sub="sub-alice", now=clock.now))
    assert revoked(gw, "acc-n1", "ref-n1") == 2 and revoked(gw, "acc-a2") == 0


def test_backchannel_unknown_session_is_200_and_audited(gw, op, clock):
    answer = backchannel(gw, op.logout_token(sid="never-seen", now=clock.now))
    assert answer.status == 200
    assert records(gw)[-1]["outcome"] == "no_session"


def backchannel_refused(gw, answer, why):
    assert isinstance(answer, Respond) and answer.status in (400, 405, 413, 415)
    payload = body(answer)
    assert payload["error"] == "invalid_request" and why in payload["error_description"]
    rec = records(gw)[-1]
    assert (rec["event"], rec["route"], rec["status"]) == (
        "invalid_request",
        "oidc_backchannel",
        answer.status,
    )
    assert why in rec["reason"]
    assert revoked(gw, "acc-a1", "ref-a1", "acc-a2", "ref-a2", "acc-b1", "ref-b1") == 0


def test_backchannel_refused_unsigned_alg_none(gw, op, clock):
    two_sessions_and_a_stranger(gw)
    token = unsigned_token(op.claims(sid="sid-1", now=clock.now))
    backchannel_refused(gw, backchannel(gw, token), "algorithm")


def test_backchannel_refused_hs256_with_the_public_key_as_secret(gw, op, clock):
    two_sessions_and_a_stranger(gw)
    token = hs256_with_public_key(op.claims(sid="sid-1", now=clock.now), op.rsa_public_pem())
    backchannel_refused(gw, backchannel(gw, token), "algorithm")


def test_backchannel_refused_unknown_kid(gw, op, clock):
    two_sessions_and_a_stranger(gw)
    token = op.sign(op.claims(sid="sid-1", now=clock.now), kid="unknown")
    backchannel_refused(gw, backchannel(gw, token), "unknown kid")


def test_backchannel_refused_wrong_iss(gw, op, clock):
    two_sessions_and_a_stranger(gw)
    token = op.sign(op.claims(sid="sid-1", iss="https://evil.example", now=clock.now))
    backchannel_refused(gw, backchannel(gw, token), "iss")


def test_backchannel_refused_wrong_aud(gw, op, clock):
    two_sessions_and_a_stranger(gw)
    token = op.sign(op.claims(sid="sid-1", aud="someone-else", now=clock.now))
    backchannel_refused(gw, backchannel(gw, token), "aud")


def test_backchannel_refused_expired_or_future_iat(gw, op, clock):
    two_sessions_and_a_stranger(gw)
    skew = gw.config.saml.clock_skew
    old = op.sign(op.claims(sid="sid-1", now=clock.now - skew - 1))
    backchannel_refused(gw, backchannel(gw, old), "iat too old")
    future = op.sign(op.claims(sid="sid-1", now=clock.now + skew + 1))
    backchannel_refused(gw, backchannel(gw, future), "iat in the future")
    expired = op.sign(op.claims(sid="sid-1", exp=clock.now - skew - 1, now=clock.now))
    backchannel_refused(gw, backchannel(gw, expired), "expired")


def test_backchannel_refused_missing_events_member(gw, op, clock):
    two_sessions_and_a_stranger(gw)
    token = op.sign(op.claims(sid="sid-1", events={"urn:other": {}}, now=clock.now))
    backchannel_refused(gw, backchannel(gw, token), "events")


def test_backchannel_refused_events_value_not_an_object(gw, op, clock):
    two_sessions_and_a_stranger(gw)
    from oidctest import EVENT

    token = op.sign(op.claims(sid="sid-1", events={EVENT: "yes"}, now=clock.now))
    backchannel_refused(gw, backchannel(gw, token), "not an object")


def test_backchannel_refused_nonce_present(gw, op, clock):
    two_sessions_and_a_stranger(gw)
    token = op.sign(op.claims(sid="sid-1", nonce="n", now=clock.now))
    backchannel_refused(gw, backchannel(gw, token), "nonce")


def test_backchannel_refused_neither_sub_nor_sid(gw, op, clock):
    two_sessions_and_a_stranger(gw)
    backchannel_refused(gw, backchannel(gw, op.logout_token(now=clock.now)), "neither sub nor sid")


def test_backchannel_refused_replayed_jti(gw, op, clock):
    two_sessions_and_a_stranger(gw)
    token = op.logout_token(sub="sub-alice", now=clock.now)
    assert backchannel(gw, token).status == 200
    login(gw, "acc-a3", "ref-a3", sub="sub-alice", sid="sid-4")  # alice logs in again
    clock.now += 30
    answer = backchannel(gw, token)
    assert answer.status == 400 and "replay" in body(answer)["error_description"]
    assert records(gw)[-1]["event"] == "invalid_request"
    assert revoked(gw, "acc-a3", "ref-a3") == 0  # the replay ended nothing new
    # The same jti with another signature (a re-signed copy) is a replay too.
    claims = op.claims(sub="sub-alice", now=clock.now)
    assert backchannel(gw, op.sign(claims)).status == 200
    assert backchannel(gw, op.sign(claims, "ES256")).status == 400


def test_backchannel_refused_token_over_the_body_limit(gw, op, clock):
    two_sessions_and_a_stranger(gw)
    token = op.logout_token(sid="sid-1", padding="x" * 70_000, now=clock.now)
    backchannel_refused(gw, backchannel(gw, token), "larger than 65536 bytes")


def test_backchannel_refused_encoded_body(gw, op, clock):
    two_sessions_and_a_stranger(gw)
    headers = {**FORM_HEADERS, "Content-Encoding": "gzip"}
    token = op.logout_token(sid="sid-1", now=clock.now)
    backchannel_refused(gw, backchannel(gw, token, headers=headers), "Content-Encoding")


@pytest.mark.parametrize(
    ("headers", "data", "why"),
    [
        (JSON, None, "Content-Type"),
        ({}, None, "Content-Type"),
        (FORM_HEADERS, b"", "logout_token"),
        (FORM_HEADERS, b"token=abc", "logout_token"),
        (FORM_HEADERS, b"logout_token=", "logout_token"),
        (FORM_HEADERS, b"logout_token=a&logout_token=b", "logout_token"),
        (FORM_HEADERS, b"logout_token=a&broken", "not a form"),
        (FORM_HEADERS, b"logout_token=\xff", "not a form"),
    ],
)
def test_backchannel_refused_malformed_calls(gw, op, clock, headers, data, why):
    two_sessions_and_a_stranger(gw)
    token = op.logout_token(sid="sid-1", now=clock.now)
    backchannel_refused(gw, backchannel(gw, token, headers=headers, data=data), why)


def test_backchannel_other_methods_are_405(gw, op, clock):
    for method in ("GET", "PUT", "DELETE"):
        answer = backchannel(gw, "x", method=method)
        assert answer.status == 405 and ("allow", "POST") in answer.headers
    assert [r["event"] for r in records(gw)] == ["invalid_request"] * 3


def test_backchannel_is_never_forwarded_and_never_quotes_the_token(gw, op, clock):
    token = op.sign(op.claims(sid="sid-1", iss="https://evil.example", now=clock.now))
    answer = backchannel(gw, token)
    text = answer.body.decode() + gw.config.audit.path.read_text()
    assert isinstance(answer, Respond)
    for segment in token.split("."):
        assert segment not in text


def test_backchannel_store_failure_is_503_never_done(tmp_path, op, clock):
    class Failing(MemoryStore):
        async def is_claimed(self, *args, **kwargs):
            raise StoreError("down")

    gw = oidc_gateway(tmp_path, op, clock, store=Failing())
    answer = backchannel(gw, op.logout_token(sid="sid-1", now=clock.now))
    assert answer.status == 503
    rec = records(gw)[-1]
    assert (rec["event"], rec["outcome"], rec["status"]) == ("logout", "error", 503)


def test_backchannel_retry_after_a_failed_revocation_still_works(tmp_path, op, clock):
    """The jti is claimed only once the logout is done: a 503 leaves no claim, so
    the OP's retry of the same token is not refused as a replay."""

    class FailsOnce(MemoryStore):
        failed = False

        async def revoke(self, *args, **kwargs):
            if not self.failed:
                self.failed = True
                raise StoreError("down for a moment")
            return await super().revoke(*args, **kwargs)

    gw = oidc_gateway(tmp_path, op, clock, store=FailsOnce())
    login(gw, "acc-a1", "ref-a1", sid="sid-1")
    token = op.logout_token(sid="sid-1", now=clock.now)
    assert backchannel(gw, token).status == 503
    assert backchannel(gw, token).status == 200  # the retry
    assert revoked(gw, "acc-a1") == 1
    assert backchannel(gw, token).status == 400  # now it is a replay


def test_backchannel_forward_mode_revokes_then_forwards(tmp_path, op, clock):
    gw = oidc_gateway(
        tmp_path, op, clock, routes={"saml_logout": None, "oidc_backchannel": {"mode": "forward"}}
    )
    login(gw, "acc-a1", "ref-a1", sid="sid-1")
    decision = backchannel(gw, op.logout_token(sid="sid-1", now=clock.now))
    assert decision == Forward(route="oidc_backchannel") and revoked(gw, "acc-a1") == 1
    bad = op.sign(op.claims(sid="sid-1", nonce="n", now=clock.now))
    assert backchannel(gw, bad).status == 400  # never forwarded when invalid


def test_backchannel_is_an_ordinary_path_until_configured(tmp_path, clock):
    gw = make_gateway(tmp_path, clock=clock)  # no oidc section
    assert "oidc_backchannel" not in gw.logouts
    decision = run(gw.handle_request(req("POST", BACKCHANNEL, FORM_HEADERS, b"logout_token=x")))
    assert isinstance(decision, Forward) and decision.route is None
    assert set(gw.logouts) >= {"oidc_logout", "token_invalidate"}  # on by default, forward


# --------------------------------------------------------------------------- caller credentials


def test_a_revoked_caller_credential_never_rides_a_forwarded_logout(gw):
    """Issue 14: the caller's own Authorization on a forwarded OIDC route is checked
    like any request's, unless it is the very token being logged out."""
    login(gw, "acc-admin", "ref-admin", user="admin", sid="s-adm")
    login(gw, "acc-a1", "ref-a1", sid="s1")
    _, revoked_admin = delete(gw, {"token": "acc-admin"})
    assert revoked_admin == Forward(route="token_invalidate")
    admin = {"Authorization": "Bearer acc-admin", **JSON}

    by_user = req("DELETE", TOKEN_API, admin, b'{"username": "alice"}')
    answer = run(gw.handle_request(by_user))
    assert isinstance(answer, Respond) and answer.status == 401
    assert body(answer) == {"error": "credential_revoked"}
    assert ("www-authenticate", 'Bearer error="invalid_token"') in answer.headers
    rec = records(gw)[-1]
    assert (rec["event"], rec["route"]) == ("revoked_credential_use", "token_invalidate")

    other = req("POST", "/_security/oidc/logout", admin, b'{"token": "acc-a1"}')
    assert run(gw.handle_request(other)).status == 401
    assert revoked(gw, "acc-a1") == 0  # refused before anything was revoked
    # a token logging itself out again is still a logout (idempotent), never 401
    itself = req("DELETE", TOKEN_API, admin, b'{"token": "acc-admin"}')
    assert run(gw.handle_request(itself)) == Forward(route="token_invalidate")
    itself = req("POST", "/_security/oidc/logout", admin, b'{"token": "acc-admin"}')
    assert run(gw.handle_request(itself)) == Forward(route="oidc_logout")
