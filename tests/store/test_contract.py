"""The store contract (SPEC §5, issue 4): every backend behaves the same."""

from __future__ import annotations

import asyncio
import threading

import pytest

from gateway.store import KeyMismatch, Revocation, SessionRecord

NOW = 1_800_000_000.0
FP1 = "11" * 16
FP2 = "22" * 16
FP3 = "33" * 16


@pytest.fixture
def store(make_store, run):
    s = make_store()
    run(s.open())
    yield s
    run(s.close())


def test_unknown_is_not_revoked(store, run):
    assert run(store.revoked([FP1, FP2], NOW)) == frozenset()
    assert run(store.revoked([], NOW)) == frozenset()


def test_revoke_then_lookup(store, run):
    run(store.revoke([Revocation(FP1, "session", NOW + 60), Revocation(FP2, "token", NOW + 60)]))
    assert run(store.revoked([FP1, FP2, FP3], NOW)) == {FP1, FP2}


def test_revocation_expires(store, run):
    run(store.revoke([Revocation(FP1, "session", NOW + 60)]))
    assert run(store.revoked([FP1], NOW + 59)) == {FP1}
    assert run(store.revoked([FP1], NOW + 60)) == frozenset()


def test_revoking_again_keeps_the_later_expiry(store, run):
    run(store.revoke([Revocation(FP1, "session", NOW + 600)]))
    run(store.revoke([Revocation(FP1, "session", NOW + 60)]))
    assert run(store.revoked([FP1], NOW + 300)) == {FP1}


def test_purge_removes_only_expired(store, run):
    run(store.revoke([Revocation(FP1, "session", NOW + 10), Revocation(FP2, "token", NOW + 1000)]))
    run(store.record_session(SessionRecord(FP3, NOW, NOW, NOW + 10)))
    run(store.record_ticket(FP1, FP3, NOW + 10))
    removed = run(store.purge_expired(NOW + 100))
    # SQL/memory backends delete rows now; Redis lets each key's TTL do it.
    assert removed >= 0
    later = NOW + 100
    assert run(store.revoked([FP1, FP2], later)) == {FP2}
    assert run(store.get_session(FP3, later)) is None
    assert run(store.session_for_ticket(FP1, later)) is None


def test_sessions_recorded_touched_and_expire(store, run):
    run(store.record_session(SessionRecord(FP1, NOW, NOW, NOW + 100, "alice")))
    rec = run(store.get_session(FP1, NOW))
    assert rec is not None and rec.created == NOW and rec.user == "alice"
    run(store.touch_session(FP1, NOW + 5))
    assert run(store.get_session(FP1, NOW + 6)).last_seen == NOW + 5
    # re-learning keeps the first `created` and the user
    run(store.record_session(SessionRecord(FP1, NOW + 7, NOW + 7, NOW + 200)))
    rec = run(store.get_session(FP1, NOW + 8))
    assert (rec.created, rec.last_seen, rec.user) == (NOW, NOW + 7, "alice")
    assert run(store.get_session(FP1, NOW + 300)) is None
    assert run(store.get_session(FP2, NOW)) is None


def test_ticket_to_session_map(store, run):
    run(store.record_ticket(FP1, FP2, NOW + 100))
    assert run(store.session_for_ticket(FP1, NOW)) == FP2
    assert run(store.session_for_ticket(FP3, NOW)) is None
    assert run(store.session_for_ticket(FP1, NOW + 100)) is None


def test_meta_claim_is_first_writer_wins(store, run):
    assert run(store.claim_meta("k", "a")) == "a"
    assert run(store.claim_meta("k", "b")) == "a"


def test_fingerprint_key_mismatch_refused(store, run):
    run(store.check_fingerprint_key("check-a"))
    run(store.check_fingerprint_key("check-a"))
    with pytest.raises(KeyMismatch):
        run(store.check_fingerprint_key("check-b"))


def test_second_handle_sees_revocation_immediately(make_store, run):
    a, b = make_store(), make_store()
    run(a.open())
    if b is not a:
        run(b.open())
    try:
        run(a.revoke([Revocation(FP1, "session", NOW + 60)]))
        assert run(b.revoked([FP1], NOW)) == {FP1}
    finally:
        run(a.close())
        if b is not a:
            run(b.close())


def test_concurrent_writers(make_store, tmp_path):
    """Several handles (as several processes would) revoke at once; none lost."""
    n_writers, per_writer = 4, 50
    errors: list[BaseException] = []
    # All open (concurrently), then all write: on a loaded machine a writer
    # storm could otherwise starve a late opener's schema transaction.
    opened = threading.Barrier(n_writers, timeout=60)

    def writer(i: int) -> None:
        async def go() -> None:
            s = make_store()
            await s.open()
            await asyncio.to_thread(opened.wait)
            try:
                for j in range(per_writer):
                    fp = f"{i:02x}{j:030x}"
                    await s.revoke([Revocation(fp, "token", NOW + 60)])
            finally:
                if type(s).__name__ != "MemoryStore":
                    await s.close()

        try:
            asyncio.run(go())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(n_writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    checker = make_store()

    async def count() -> int:
        await checker.open()
        try:
            all_fps = [f"{i:02x}{j:030x}" for i in range(n_writers) for j in range(per_writer)]
            return len(await checker.revoked(all_fps, NOW))
        finally:
            await checker.close()

    assert asyncio.run(count()) == n_writers * per_writer


def test_token_records_indexed_by_access_and_refresh(store, run):
    from gateway.store import TokenRecord

    rec = TokenRecord(
        FP1,
        FP2,
        "sess-a",
        NOW + 100,
        username="alice",
        realm="saml1",
        name_id="alice@x",
        name_id_format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
        session_index="_idx",
        related=(FP3,),
    )
    run(store.record_tokens(rec))
    assert run(store.get_token(FP1, NOW)) == rec
    assert run(store.get_token(FP2, NOW)) == rec
    assert run(store.get_token(FP3, NOW)) is None
    assert run(store.get_token(FP1, NOW + 100)) is None
    assert rec.fingerprints() == (FP1, FP2, FP3)
    run(store.purge_expired(NOW + 200))
    assert run(store.get_token(FP1, NOW + 200)) is None


def test_token_records_keep_the_oidc_identity(store, run):
    """Issue 14: the OP's issuer, sub and sid survive the round trip, so a refresh
    (which copies the record) lists the new pair where a back-channel logout looks."""
    from gateway.store import TokenRecord

    rec = TokenRecord(
        FP1,
        FP2,
        "sess-o",
        NOW + 100,
        username="alice",
        realm="oidc1",
        oidc_issuer="https://op.example.com",
        oidc_sub="248289761001",
        oidc_sid="08a5019c-17e1-4977-8f42-65a12843ea02",
    )
    run(store.record_tokens(rec))
    assert run(store.get_token(FP2, NOW)) == rec


def test_logout_request_ids_kept_until_expiry(store, run):
    run(store.record_logout_request("_abc", "sess-a", NOW + 10))
    assert run(store.logout_request("_abc", NOW)) == "sess-a"
    assert run(store.logout_request("_zzz", NOW)) is None
    assert run(store.logout_request("_abc", NOW + 10)) is None


def test_replicas_find_the_same_fingerprint_key(make_store, run):
    a, b = make_store(), make_store()
    run(a.open())
    if b is not a:
        run(b.open())
    try:
        key_a = run(a.fingerprint_key(None))
        key_b = run(b.fingerprint_key(None))
        assert key_a == key_b and len(key_a) == 32
        # a replica configured with its own key refuses to start against this store
        with pytest.raises(KeyMismatch):
            run(b.fingerprint_key("a-different-configured-key-0123456789"))
    finally:
        run(a.close())
        if b is not a:
            run(b.close())


def test_configured_key_is_shared_by_config(make_store, run):
    s = make_store()
    run(s.open())
    try:
        configured = "operator-chosen-secret-0123456789abcdef"
        assert run(s.fingerprint_key(configured)) == run(s.fingerprint_key(configured))
    finally:
        run(s.close())


def test_revocation_and_logout_request_written_together(store, run):
    from gateway.store import LogoutRequestRecord

    run(
        store.revoke(
            [Revocation(FP1, "token", NOW + 60)],
            logout_request=LogoutRequestRecord("_req", "sess-z", NOW + 30),
        )
    )
    assert run(store.revoked([FP1], NOW)) == {FP1}
    assert run(store.logout_request("_req", NOW)) == "sess-z"
    assert run(store.logout_request("_req", NOW + 31)) is None


# --------------------------------------------------------------------------- one-time claims


def test_claim_once_wins_once_until_it_expires(store, run):
    assert run(store.claim_once("saml-request-id", "_abc", NOW + 60, NOW)) is True
    assert run(store.claim_once("saml-request-id", "_abc", NOW + 60, NOW + 1)) is False
    # scopes are separate namespaces
    assert run(store.claim_once("oidc-jti", "_abc", NOW + 60, NOW)) is True
    # after the remembered time the key may be claimed again
    assert run(store.claim_once("saml-request-id", "_abc", NOW + 120, NOW + 61)) in (True, False)


def test_is_claimed_reads_without_claiming(store, run):
    assert run(store.is_claimed("oidc-jti", "j-9", NOW)) is False
    assert run(store.is_claimed("oidc-jti", "j-9", NOW)) is False  # a read claims nothing
    assert run(store.claim_once("oidc-jti", "j-9", NOW + 60, NOW)) is True
    assert run(store.is_claimed("oidc-jti", "j-9", NOW + 1)) is True
    assert run(store.is_claimed("other-scope", "j-9", NOW + 1)) is False
    assert run(store.is_claimed("oidc-jti", "j-9", NOW + 61)) is False  # remembered until then


def test_claim_once_is_remembered_by_other_handles(make_store, run):
    a, b = make_store(), make_store()
    run(a.open())
    run(b.open())
    try:
        assert run(a.claim_once("oidc-jti", "j-1", NOW + 600, NOW)) is True
        assert run(b.claim_once("oidc-jti", "j-1", NOW + 600, NOW)) is False
    finally:
        run(a.close())
        run(b.close())


def test_claim_once_concurrent_claims_have_one_winner(make_store, run):
    handles = [make_store() for _ in range(4)]
    for h in handles:
        run(h.open())
    try:

        async def race():
            return await asyncio.gather(
                *(h.claim_once("race", "k", NOW + 600, NOW) for h in handles for _ in range(3))
            )

        results = run(race())
        assert sum(results) == 1
    finally:
        for h in handles:
            run(h.close())


def test_claim_is_purged_after_expiry(store, run):
    run(store.claim_once("s", "k", NOW + 10, NOW))
    run(store.purge_expired(NOW + 100))
    assert run(store.claim_once("s", "k", NOW + 200, NOW + 100)) is True


# --------------------------------------------------------------------------- credential index


def test_index_lists_credentials_per_key_until_they_expire(store, run):
    from gateway.store import IndexEntry

    bob_session = IndexEntry(FP1, "session", NOW + 100)
    bob_token = IndexEntry(FP2, "token", NOW + 1000)
    run(store.index_credentials(["user:bob", "realm:saml1"], [bob_session, bob_token]))
    run(store.index_credentials(["user:alice"], [IndexEntry(FP3, "token", NOW + 1000)]))
    assert run(store.indexed_credentials("user:bob", NOW)) == [bob_session, bob_token]
    assert run(store.indexed_credentials("realm:saml1", NOW)) == [bob_session, bob_token]
    assert [e.fingerprint for e in run(store.indexed_credentials("user:alice", NOW))] == [FP3]
    assert run(store.indexed_credentials("user:nobody", NOW)) == []
    # an entry ends with the credential's own expiry
    assert run(store.indexed_credentials("user:bob", NOW + 100)) == [bob_token]


def test_index_keeps_the_later_expiry_and_revoked_entries(store, run):
    from gateway.store import IndexEntry

    run(store.index_credentials(["user:bob"], [IndexEntry(FP1, "token", NOW + 1000)]))
    run(store.index_credentials(["user:bob"], [IndexEntry(FP1, "token", NOW + 10)]))
    assert run(store.indexed_credentials("user:bob", NOW + 500)) == [
        IndexEntry(FP1, "token", NOW + 1000)
    ]
    # revoking does not remove it from the index (SPEC §11: "previously invalidated")
    run(store.revoke([Revocation(FP1, "token", NOW + 1000)]))
    assert len(run(store.indexed_credentials("user:bob", NOW + 500))) == 1


def test_index_is_shared_by_other_handles(make_store, run):
    from gateway.store import IndexEntry

    a, b = make_store(), make_store()
    run(a.open())
    run(b.open())
    try:
        run(a.index_credentials(["user:bob"], [IndexEntry(FP1, "session", NOW + 600)]))
        run(b.index_credentials(["user:bob"], [IndexEntry(FP2, "token", NOW + 600)]))
        assert {e.fingerprint for e in run(a.indexed_credentials("user:bob", NOW))} == {FP1, FP2}
    finally:
        run(a.close())
        run(b.close())


def test_index_entries_are_purged_after_expiry(store, run):
    from gateway.store import IndexEntry

    run(store.index_credentials(["user:bob"], [IndexEntry(FP1, "session", NOW + 10)]))
    run(store.purge_expired(NOW + 100))
    assert run(store.indexed_credentials("user:bob", NOW + 100)) == []


# --------------------------------------------------------------------------- live revocations


def test_count_revoked_counts_live_revocations_once(store, run):
    assert run(store.count_revoked(NOW)) == 0
    run(store.revoke([Revocation(FP1, "session", NOW + 600), Revocation(FP2, "token", NOW + 6000)]))
    assert run(store.count_revoked(NOW)) == 2
    # revoking again (later or earlier expiry) is still one revocation
    run(store.revoke([Revocation(FP1, "session", NOW + 1200)]))
    run(store.revoke([Revocation(FP2, "token", NOW + 60)]))
    assert run(store.count_revoked(NOW)) == 2
    # a revocation moved to a later expiry is counted until the later one
    assert run(store.count_revoked(NOW + 900)) == 2
    assert run(store.count_revoked(NOW + 1800)) == 1
    assert run(store.count_revoked(NOW + 7200)) == 0


def test_count_revoked_sees_every_handle(make_store, run):
    a, b = make_store(), make_store()
    run(a.open())
    if b is not a:
        run(b.open())
    try:
        run(a.revoke([Revocation(FP1, "session", NOW + 600)]))
        run(b.revoke([Revocation(FP2, "token", NOW + 600), Revocation(FP3, "token", NOW + 600)]))
        assert run(a.count_revoked(NOW)) == run(b.count_revoked(NOW)) == 3
    finally:
        run(a.close())
        if b is not a:
            run(b.close())


def test_count_revoked_with_a_logout_request_in_the_same_write(store, run):
    from gateway.store import LogoutRequestRecord

    run(
        store.revoke(
            [Revocation(FP1, "token", NOW + 600)],
            logout_request=LogoutRequestRecord("_req", "sess-z", NOW + 30),
        )
    )
    assert run(store.count_revoked(NOW)) == 1
    assert run(store.logout_request("_req", NOW)) == "sess-z"
