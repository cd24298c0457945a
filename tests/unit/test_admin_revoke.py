"""Issue 15: learning who a session belongs to (`sessions.user_header`) and
revoking a user, a session or a token (the logic `POST /-/revoke` and
`gateway revoke` share)."""

from __future__ import annotations

import asyncio
import json

import pytest
from gwtest import KEY, Clock, make_gateway, req

from gateway.admin.revoke import (
    Revoker,
    RevokeRequestError,
    RevokeResult,
    RevokeTarget,
    check_target,
    parse_revoke_body,
    revoke_audit_event,
)
from gateway.credentials import SESSION, TOKEN, Fingerprinter
from gateway.http import Response
from gateway.principals import user_key
from gateway.session_users import session_user
from gateway.store import StoreError
from gateway.store.memory import MemoryStore

FP = Fingerprinter(KEY)
USER_HEADER = {"sessions": {"user_header": "X-Authenticated-User"}}


def run(coro):
    return asyncio.run(coro)


def answer_with(*headers: tuple[str, str]) -> Response:
    return Response(302, (("set-cookie", "JSESSIONID=s-bob-1; Path=/"), *headers))


# --------------------------------------------------------------------------- session users


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ((("x-authenticated-user", "bob"),), "bob"),
        ((("x-authenticated-user", "  bob "),), "bob"),
        ((("x-authenticated-user", "bob"), ("x-authenticated-user", "bob")), "bob"),
        ((("x-authenticated-user", "bob"), ("x-authenticated-user", "eve")), None),
        ((("x-authenticated-user", ""),), None),
        ((("x-authenticated-user", "b\x1bob"),), None),
        ((("x-authenticated-user", "b\udcffob"),), None),
        ((("x-authenticated-user", "x" * 257),), None),
        ((), None),
    ],
)
def test_session_user_from_the_header(headers, expected):
    assert session_user(answer_with(*headers), "x-authenticated-user") == expected


def test_no_user_header_configured_learns_no_user():
    assert session_user(answer_with(("x-authenticated-user", "bob")), None) is None


def test_engine_records_and_indexes_the_session_user(tmp_path):
    store = MemoryStore()
    gw = make_gateway(tmp_path, store, **USER_HEADER)
    resp = answer_with(("X-Authenticated-User".lower(), "bob"))
    run(gw.handle_response(req("GET", "/web/?ticket=ST-1"), resp))
    fp = FP(SESSION, "s-bob-1")
    record = run(store.get_session(fp, Clock().now))
    assert record is not None and record.user == "bob"
    entries = run(store.indexed_credentials(user_key(FP, "bob"), Clock().now))
    assert [(e.fingerprint, e.kind) for e in entries] == [(fp, SESSION)]


def test_without_the_header_sessions_are_not_listed_under_a_user(tmp_path):
    store = MemoryStore()
    gw = make_gateway(tmp_path, store)  # user_header not configured
    run(gw.handle_response(req(), answer_with(("x-authenticated-user", "bob"))))
    assert run(store.get_session(FP(SESSION, "s-bob-1"), Clock().now)).user is None
    assert run(store.indexed_credentials(user_key(FP, "bob"), Clock().now)) == []


# --------------------------------------------------------------------------- the body


@pytest.mark.parametrize(
    ("body", "target"),
    [
        (b'{"user": "bob"}', RevokeTarget("user", "bob")),
        (b'{"session": "ABC"}', RevokeTarget("session", "ABC")),
        (b'{"token": "t.o.k"}', RevokeTarget("token", "t.o.k")),
        (b'\n {"user":"b\\u00f6b"} ', RevokeTarget("user", "b\u00f6b")),
    ],
)
def test_parse_revoke_body(body, target):
    assert parse_revoke_body(body) == target


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "body is not JSON"),
        (b"user=bob", "body is not JSON"),
        (b"[1]" * 3, "body is not JSON"),
        (b'"bob"', "must be a JSON object"),
        (b"{}", "exactly one of user, session, token"),
        (b'{"user": "a", "session": "b"}', "exactly one of user, session, token"),
        (b'{"user": "a", "user": "b"}', "duplicate field"),
        (b'{"username": "bob"}', "unknown field: expected exactly one"),
        (b'{"user": ""}', "user must be a non-empty string"),
        (b'{"token": 5}', "token must be a non-empty string"),
        (b'{"session": null}', "session must be a non-empty string"),
        (b'{"user": "b\\nob"}', "control characters"),
        (json.dumps({"user": "x" * 257}).encode(), "longer than 256"),
        (json.dumps({"token": "x" * 8193}).encode(), "longer than 8192"),
        (b"[" * 100_000, "body is not JSON"),
    ],
)
def test_parse_revoke_body_refusals(body, why):
    with pytest.raises(RevokeRequestError, match=why):
        parse_revoke_body(body)


def test_unknown_field_name_is_never_quoted_back():
    with pytest.raises(RevokeRequestError) as err:
        parse_revoke_body(b'{"secret-session-id-0123456789": "x"}')
    assert "secret" not in str(err.value)


def test_target_repr_hides_credentials():
    assert "ABC" not in repr(check_target("session", "ABC-secret"))
    assert "bob" in repr(check_target("user", "bob"))


# --------------------------------------------------------------------------- revoking


def bob_everywhere(tmp_path):
    """A gateway that learned bob's session and two token pairs (one refreshed)."""
    store = MemoryStore()
    clock = Clock()
    gw = make_gateway(tmp_path, store, clock, **USER_HEADER)

    async def learn():
        await gw.handle_response(
            req("GET", "/web/?ticket=ST-1"), answer_with(("x-authenticated-user", "bob"))
        )
        pair = {
            "access_token": "acc-1",
            "refresh_token": "ref-1",
            "username": "bob",
            "realm": "saml1",
            "expires_in": 1200,
        }
        body = json.dumps({"content": "", "realm": "saml1"}).encode()
        await gw.handle_response(
            req("POST", "/_security/saml/authenticate", {"content-type": "application/json"}, body),
            Response(200, (("content-type", "application/json"),), json.dumps(pair).encode()),
        )
        refreshed = {**pair, "access_token": "acc-2", "refresh_token": "ref-2"}
        await gw.handle_response(
            req(
                "POST",
                "/_security/oauth2/token",
                {"content-type": "application/json"},
                json.dumps({"grant_type": "refresh_token", "refresh_token": "ref-1"}).encode(),
            ),
            Response(200, (("content-type", "application/json"),), json.dumps(refreshed).encode()),
        )

    run(learn())
    revoker = Revoker(gw.config, store, FP, gw.credentials, clock)
    return gw, store, clock, revoker


def test_revoke_a_user_ends_every_learned_credential_then_reports_them_as_previous(tmp_path):
    gw, store, clock, revoker = bob_everywhere(tmp_path)
    result = run(revoker.revoke(RevokeTarget("user", "bob")))
    assert result.answer() == {"invalidated": 5, "previously_invalidated": 0}
    assert result.outcome == "success" and result.user == "bob"
    fps = {FP(SESSION, "s-bob-1")} | {FP(TOKEN, t) for t in ("acc-1", "ref-1", "acc-2", "ref-2")}
    assert set(result.fingerprints) == fps
    assert run(store.revoked(list(fps), clock.now)) == fps
    again = run(revoker.revoke(RevokeTarget("user", "bob")))
    assert again.answer() == {"invalidated": 0, "previously_invalidated": 5}
    assert again.outcome == "already_revoked"
    # and requests carrying them are refused
    decision = run(gw.handle_request(req("GET", "/web/api", {"Cookie": "JSESSIONID=s-bob-1"})))
    assert decision.status == 401


def test_revoke_an_unknown_user_finds_nothing(tmp_path):
    _, _, _, revoker = bob_everywhere(tmp_path)
    result = run(revoker.revoke(RevokeTarget("user", "mallory")))
    assert result == RevokeResult(0, 0, (), "mallory")
    assert result.outcome == "no_session"


def test_revoke_a_session_known_or_not(tmp_path):
    _, store, clock, revoker = bob_everywhere(tmp_path)
    result = run(revoker.revoke(RevokeTarget("session", "s-bob-1")))
    assert (result.answer(), result.user) == (
        {"invalidated": 1, "previously_invalidated": 0},
        "bob",
    )
    # a session never seen is deny-listed all the same
    result = run(revoker.revoke(RevokeTarget("session", "never-seen")))
    assert (result.answer(), result.user) == ({"invalidated": 1, "previously_invalidated": 0}, None)
    assert run(store.revoked([FP(SESSION, "never-seen")], clock.now))
    # bob's tokens are untouched
    assert not run(store.revoked([FP(TOKEN, "acc-2")], clock.now))


def test_revoke_a_token_takes_its_pair_and_lineage(tmp_path):
    _, store, clock, revoker = bob_everywhere(tmp_path)
    result = run(revoker.revoke(RevokeTarget("token", "acc-2")))
    assert result.answer() == {"invalidated": 4, "previously_invalidated": 0}
    assert result.user == "bob"
    fps = [FP(TOKEN, t) for t in ("acc-1", "ref-1", "acc-2", "ref-2")]
    assert run(store.revoked(fps, clock.now)) == set(fps)
    assert not run(store.revoked([FP(SESSION, "s-bob-1")], clock.now))


def test_revoke_a_jwt_also_denies_its_jti_without_counting_it_twice(tmp_path):
    import base64

    def b64(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    jwt = f"{b64({'alg': 'RS256'})}.{b64({'iss': 'idp', 'jti': 'j-1', 'exp': 1_900_000_000})}.sig"
    revoker = bob_everywhere(tmp_path)[3]
    result = run(revoker.revoke(RevokeTarget("token", jwt)))
    assert result.answer() == {"invalidated": 1, "previously_invalidated": 0}
    assert len(result.fingerprints) == 2  # the token and its (iss, jti)


def test_a_store_error_is_raised_never_reported_as_revoked(tmp_path):
    class Broken(MemoryStore):
        async def revoke(self, revocations, *, logout_request=None):
            raise StoreError("down")

    gw = make_gateway(tmp_path, Broken())
    revoker = Revoker(gw.config, gw.store, FP, gw.credentials, Clock())
    with pytest.raises(StoreError):
        run(revoker.revoke(RevokeTarget("session", "s")))


def test_audit_events_of_admin_revocations():
    ev = revoke_audit_event(
        RevokeResult(2, 1, ("a" * 32, "b" * 32, "c" * 32), "bob"),
        status=200,
        client="10.0.0.9",
        request_id="admin-1",
    )
    assert (ev.event, ev.route, ev.reason, ev.outcome, ev.user) == (
        "logout",
        "admin",
        "admin",
        "success",
        "bob",
    )
    assert ev.credentials == ("a" * 32, "b" * 32, "c" * 32)
    failed = revoke_audit_event(None, status=503, client=None, request_id="cli-1", user="bob")
    assert (failed.outcome, failed.status, failed.credentials) == ("error", 503, ())
