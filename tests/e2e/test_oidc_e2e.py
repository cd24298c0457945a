"""OpenID Connect end to end (issue 14, SPEC §10.4-§10.5): `gateway run` in front
of the demo upstream playing an Elasticsearch OIDC realm; two replicas on one
real redis-server; the test plays the OP and signs back-channel logout tokens
with PyJWT (RS256 and ES256, keys generated here)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import pytest
from oidctest import FORM_HEADERS, OP, form, oidc_config
from procs import Gateway, request, running_gateway, write_config
from secrets_registry import remember

pytestmark = pytest.mark.slow

JSON = {"Content-Type": "application/json"}
ME = "/_security/_authenticate"
TOKEN_API = "/_security/oauth2/token"
BACKCHANNEL = "/-/oidc/backchannel-logout"


def post_json(port: int, path: str, payload: object, method: str = "POST"):
    status, headers, body = request(port, method, path, JSON, json.dumps(payload).encode())
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    return status, headers, data


def oidc_login(port: int, code: str) -> dict[str, str]:
    """OIDC login through the gateway: prepare, the demo OP's code, authenticate."""
    status, _, prepared = post_json(port, "/_security/oidc/prepare", {"realm": "oidc1"})
    assert status == 200
    state = prepared["state"]
    callback = f"https://kibana.example/api/security/oidc/callback?code={code}&state={state}"
    status, _, login = post_json(
        port,
        "/_security/oidc/authenticate",
        {"redirect_uri": callback, "state": state, "nonce": prepared["nonce"]},
    )
    assert status == 200, login
    remember(login["access_token"], login["refresh_token"])
    return login


def bearer(port: int, token: str) -> int:
    return request(port, "GET", ME, {"Authorization": f"Bearer {token}"})[0]


def refresh(port: int, refresh_token: str) -> int:
    grant = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return post_json(port, TOKEN_API, grant)[0]


def audit(gw: Gateway) -> list[dict]:
    path = gw.config.parent / "state" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_oidc_logout_forwarded_then_access_and_refresh_token_refused(tmp_path, upstream):
    with running_gateway(write_config(tmp_path, upstream.url)) as gw:
        login = oidc_login(gw.port, "alice:sid-1")
        access, refresh_token = login["access_token"], login["refresh_token"]
        assert bearer(gw.port, access) == 200
        upstream.reset()
        status, _, answer = post_json(gw.port, "/_security/oidc/logout", {"token": access})
        # forward (the default): the upstream invalidated too, and its OP redirect with
        # the id_token_hint it alone holds came back
        assert status == 200
        redirect = urlsplit(answer["redirect"])
        assert redirect.path == "/op/logout"
        hint = parse_qs(redirect.query)["id_token_hint"][0]
        remember(hint)
        assert [r["path"] for r in upstream.requests()] == ["/_security/oidc/logout"]
        assert bearer(gw.port, access) == 401
        assert refresh(gw.port, refresh_token) == 401
        # refused by the gateway: the upstream never saw them
        assert [r["path"] for r in upstream.requests()] == ["/_security/oidc/logout"]
        rec = next(r for r in audit(gw) if r["event"] == "logout")
        assert (rec["route"], rec["reason"], rec["outcome"], rec["user"], rec["forwarded"]) == (
            "oidc_logout",
            "manual",
            "success",
            "alice",
            True,
        )


@pytest.mark.parametrize("field", ["token", "refresh_token"])
def test_invalidate_token_api_then_both_tokens_refused(tmp_path, upstream, field):
    with running_gateway(write_config(tmp_path, upstream.url)) as gw:
        login = oidc_login(gw.port, "bob:sid-2")
        access, refresh_token = login["access_token"], login["refresh_token"]
        assert bearer(gw.port, access) == 200
        given = access if field == "token" else refresh_token
        status, _, counts = post_json(gw.port, TOKEN_API, {field: given}, method="DELETE")
        assert status == 200 and counts["invalidated_tokens"] == 2  # the upstream's answer
        assert bearer(gw.port, access) == 401
        assert refresh(gw.port, refresh_token) == 401
        # a malformed call is answered by the gateway and never reaches the upstream
        upstream.reset()
        status, _, error = post_json(
            gw.port, TOKEN_API, {"token": "a", "refresh_token": "b"}, "DELETE"
        )
        assert status == 400 and error["error"]["type"] == "illegal_argument_exception"
        assert upstream.requests() == []
        assert [r["reason"] for r in audit(gw) if r["event"] == "logout"] == ["api"]


def test_invalidate_by_username_follows_the_upstreams_answer(tmp_path, upstream):
    with running_gateway(write_config(tmp_path, upstream.url)) as gw:
        first, second = oidc_login(gw.port, "carol:s-a"), oidc_login(gw.port, "carol:s-b")
        other = oidc_login(gw.port, "dave:s-c")
        status, _, counts = post_json(gw.port, TOKEN_API, {"username": "carol"}, "DELETE")
        assert status == 200 and counts["invalidated_tokens"] == 4
        for token in (first["access_token"], second["access_token"]):
            assert bearer(gw.port, token) == 401
        assert refresh(gw.port, first["refresh_token"]) == 401
        assert bearer(gw.port, other["access_token"]) == 200
        rec = next(r for r in audit(gw) if r["event"] == "logout")
        assert (rec["route"], rec["status"], rec["outcome"]) == ("token_invalidate", 200, "success")
        assert len(rec["credentials"]) == 4


def demo_op(upstream) -> str:
    """The issuer the demo realm reports as oidc(iss): its OP, which the test plays."""
    return upstream.url + "/op"


@contextmanager
def two_replicas(tmp_path, upstream, redis_server, op) -> Iterator[tuple[Gateway, Gateway]]:
    redis_server.flush()
    jwks = op.write_jwks(tmp_path / "op")
    store = {"backend": "redis", "redis_url": redis_server.url}

    def replica(name: str):
        folder = tmp_path / name
        folder.mkdir()
        oidc = oidc_config(jwks, issuer=op.issuer)
        return write_config(folder, upstream.url, store=store, oidc=oidc)

    with running_gateway(replica("a")) as a, running_gateway(replica("b")) as b:
        yield a, b


def backchannel(port: int, token: str) -> tuple[int, object]:
    remember(token)
    status, headers, _ = request(port, "POST", BACKCHANNEL, FORM_HEADERS, form(token))
    return status, headers


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_backchannel_sid_ends_that_session_on_both_replicas(tmp_path, upstream, redis_server, alg):
    op = OP(issuer=demo_op(upstream))
    with two_replicas(tmp_path, upstream, redis_server, op) as (a, b):
        ended = oidc_login(a.port, "erin:sid-ended")
        kept = oidc_login(b.port, "erin:sid-kept")  # the same user, another session
        for gw in (a, b):
            assert bearer(gw.port, ended["access_token"]) == 200
        upstream.reset()
        status, headers = backchannel(a.port, op.logout_token(alg, sid="sid-ended", sub="erin"))
        assert status == 200 and headers["Cache-Control"] == "no-store"
        for gw in (a, b):
            assert bearer(gw.port, ended["access_token"]) == 401
            assert refresh(gw.port, ended["refresh_token"]) == 401
            assert bearer(gw.port, kept["access_token"]) == 200
        # the back-channel call never went upstream
        assert BACKCHANNEL not in [r["path"] for r in upstream.requests()]
        rec = next(r for r in audit(a) if r["event"] == "logout")
        assert (rec["route"], rec["reason"], rec["outcome"], rec["user"]) == (
            "oidc_backchannel",
            "backchannel",
            "success",
            "erin",
        )
        assert len(rec["credentials"]) == 2


def test_backchannel_sub_only_ends_every_session_and_replays_are_refused_on_any_replica(
    tmp_path, upstream, redis_server
):
    op = OP(issuer=demo_op(upstream))
    with two_replicas(tmp_path, upstream, redis_server, op) as (a, b):
        sessions = [oidc_login(a.port, "frank:s1"), oidc_login(b.port, "frank:s2")]
        stranger = oidc_login(a.port, "grace:s3")
        token = op.logout_token("ES256", sub="frank")
        assert backchannel(b.port, token)[0] == 200
        for gw in (a, b):
            for login in sessions:
                assert bearer(gw.port, login["access_token"]) == 401
                assert refresh(gw.port, login["refresh_token"]) == 401
            assert bearer(gw.port, stranger["access_token"]) == 200
        # frank logs in again; the same logout token replayed on the other replica
        # is refused (the jti is in the shared store) and ends nothing
        again = oidc_login(a.port, "frank:s4")
        status, _, body = request(a.port, "POST", BACKCHANNEL, FORM_HEADERS, form(token))
        assert status == 400 and json.loads(body) == {
            "error": "invalid_request",
            "error_description": "logout token refused: jti already used (replay)",
        }
        assert bearer(b.port, again["access_token"]) == 200
        refused = [r for r in audit(a) if r["event"] == "invalid_request"]
        assert refused and refused[-1]["route"] == "oidc_backchannel"


def test_backchannel_refusals_end_to_end(tmp_path, upstream, redis_server):
    op = OP(issuer=demo_op(upstream))
    with two_replicas(tmp_path, upstream, redis_server, op) as (a, _):
        login = oidc_login(a.port, "heidi:s1")
        for token in (
            op.sign(op.claims(sid="s1", nonce="n-1")),
            op.sign(op.claims(sid="s1"), kid="not-published"),
            op.sign(op.claims(sid="s1", aud="someone-else")),
        ):
            assert backchannel(a.port, token)[0] == 400
        big = op.logout_token(sid="s1", padding="x" * 70_000)
        assert backchannel(a.port, big)[0] == 413
        assert request(a.port, "GET", BACKCHANNEL)[0] == 405
        assert bearer(a.port, login["access_token"]) == 200  # nothing was revoked
        assert [r["status"] for r in audit(a) if r["event"] == "invalid_request"] == [
            400,
            400,
            400,
            413,
            405,
        ]
