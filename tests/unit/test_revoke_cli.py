"""Issue 15: `gateway revoke` against the configured store, without a running
gateway; raw values from files, never argv; the audit record and its lock."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys

import pytest
import yaml
from gwtest import audit_records

from gateway import cli
from gateway.audit import AuditLog, verify
from gateway.config import load_config
from gateway.credentials import SESSION, TOKEN, Fingerprinter
from gateway.principals import user_key
from gateway.store import IndexEntry, SessionRecord, TokenRecord, make_store


def write_config(tmp_path, **extra):
    data = {
        "upstream": "http://127.0.0.1:9000",
        "state_dir": "state",
        "store": {"backend": "sqlite", "sqlite_path": "state/gateway.db"},
        "audit": {"path": "state/audit.jsonl", "fsync": False},
        "routes": {"saml_logout": None, "logout_action": None},
    }
    data.update(extra)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def seed(config_path):
    """What a gateway would have learned: bob's session and a token pair."""
    config = load_config(config_path)

    async def go():
        store = make_store(config.store)
        await store.open()
        fp = Fingerprinter(await store.fingerprint_key(None))
        later = 4_000_000_000.0
        session = fp(SESSION, "S-bob")
        await store.record_session(SessionRecord(session, 1, 1, later, "bob"))
        await store.record_tokens(TokenRecord(fp(TOKEN, "A-bob"), fp(TOKEN, "R-bob"), "s", later))
        await store.index_credentials(
            [user_key(fp, "bob")],
            [
                IndexEntry(session, SESSION, later),
                IndexEntry(fp(TOKEN, "A-bob"), TOKEN, later),
                IndexEntry(fp(TOKEN, "R-bob"), TOKEN, later),
            ],
        )
        await store.close()
        return fp

    return asyncio.run(go())


def revoked(config_path, fp, kind, *values):
    config = load_config(config_path)

    async def go():
        store = make_store(config.store)
        await store.open()
        try:
            import time

            return await store.revoked([fp(kind, v) for v in values], time.time())
        finally:
            await store.close()

    return len(asyncio.run(go()))


def secret_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_revoke_a_user_then_again(tmp_path, capsys):
    config = write_config(tmp_path)
    fp = seed(config)
    assert cli.main(["revoke", "--config", str(config), "--user", "bob"]) == 0
    assert json.loads(capsys.readouterr().out) == {"invalidated": 3, "previously_invalidated": 0}
    assert cli.main(["revoke", "--config", str(config), "--user", "bob"]) == 0
    assert json.loads(capsys.readouterr().out) == {"invalidated": 0, "previously_invalidated": 3}
    assert revoked(config, fp, TOKEN, "A-bob", "R-bob") == 2
    records = audit_records(tmp_path / "state" / "audit.jsonl")
    assert [(r["event"], r["route"], r["reason"], r["outcome"], r["user"]) for r in records] == [
        ("logout", "admin", "admin", "success", "bob"),
        ("logout", "admin", "admin", "already_revoked", "bob"),
    ]
    assert records[0]["status"] is None and records[0]["client"] is None
    assert records[0]["request_id"].startswith("cli-")
    assert verify([tmp_path / "state" / "audit.jsonl"]).ok


def test_revoke_a_session_and_a_token_from_files(tmp_path, capsys):
    config = write_config(tmp_path)
    fp = seed(config)
    session = secret_file(tmp_path, "session.key", "  S-bob\n")
    assert cli.main(["revoke", "--config", str(config), "--session-file", session]) == 0
    assert json.loads(capsys.readouterr().out) == {"invalidated": 1, "previously_invalidated": 0}
    assert revoked(config, fp, SESSION, "S-bob") == 1
    token = secret_file(tmp_path, "token.key", "A-bob\n")
    assert cli.main(["revoke", "--config", str(config), "--token-file", token]) == 0
    assert json.loads(capsys.readouterr().out) == {"invalidated": 2, "previously_invalidated": 0}
    out = capsys.readouterr()
    assert "S-bob" not in out.out + out.err and "A-bob" not in out.out + out.err


def test_revoke_a_token_from_stdin(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path)
    fp = seed(config)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"R-bob\n")))
    assert cli.main(["revoke", "--config", str(config), "--token-file", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["invalidated"] == 2
    assert revoked(config, fp, TOKEN, "A-bob", "R-bob") == 2


def test_raw_values_are_never_taken_from_argv():
    for option in ("--session", "--token", "--session-f", "--tok"):
        with pytest.raises(SystemExit):  # never an abbreviation of --…-file
            cli.build_parser().parse_args(["revoke", option, "S-bob"])
    with pytest.raises(SystemExit):  # exactly one of the three
        cli.build_parser().parse_args(["revoke", "--user", "a", "--token-file", "t"])


def test_while_a_gateway_holds_the_audit_file_nothing_is_revoked(tmp_path, capsys):
    config = write_config(tmp_path)
    fp = seed(config)
    holder = AuditLog(tmp_path / "state" / "audit.jsonl", fsync=False)
    holder.open()  # as a running gateway does
    try:
        assert cli.main(["revoke", "--config", str(config), "--user", "bob"]) == 1
        err = capsys.readouterr().err
        assert err == (
            f"gateway revoke: audit log {tmp_path / 'state' / 'audit.jsonl'} is in use by "
            f"another gateway (pid {os.getpid()}); nothing was revoked. Use that gateway's "
            "POST /-/revoke (admin.listen), or write this record to a separate audit file "
            "with --audit-file PATH\n"
        )
        assert revoked(config, fp, TOKEN, "A-bob", "R-bob") == 0
        # with a separate audit file it goes ahead, in a chain of its own
        separate = tmp_path / "revoke-audit.jsonl"
        argv = ["revoke", "--config", str(config), "--user", "bob", "--audit-file", str(separate)]
        assert cli.main(argv) == 0
        assert json.loads(capsys.readouterr().out)["invalidated"] == 3
        assert [r["user"] for r in audit_records(separate)] == ["bob"]
        assert verify([separate]).ok
    finally:
        holder.close()
    assert audit_records(tmp_path / "state" / "audit.jsonl") == []


def test_memory_store_is_refused(tmp_path, capsys):
    config = write_config(tmp_path, store={"backend": "memory"})
    assert cli.main(["revoke", "--config", str(config), "--user", "bob"]) == 2
    assert "store.backend is memory" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("", "session must be a non-empty string"),
        ("one\ntwo\n", "holds more than one line"),
        (b"\xff\xfe", "not UTF-8 text"),
    ],
)
def test_bad_secret_files_name_the_file_not_the_content(tmp_path, capsys, content, why):
    config = write_config(tmp_path)
    path = tmp_path / "session.key"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert cli.main(["revoke", "--config", str(config), "--session-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gateway revoke: {path}: ") and why in err
    assert "two" not in err


def test_missing_secret_file(tmp_path, capsys):
    config = write_config(tmp_path)
    missing = tmp_path / "nope.key"
    assert cli.main(["revoke", "--config", str(config), "--token-file", str(missing)]) == 2
    assert f"gateway revoke: {missing}: cannot read: " in capsys.readouterr().err


def test_unreachable_store_revokes_nothing_and_says_so(tmp_path, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    config = write_config(
        tmp_path, store={"backend": "redis", "redis_url": f"redis://127.0.0.1:{port}/0"}
    )
    assert cli.main(["revoke", "--config", str(config), "--user", "bob"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("gateway revoke: cannot open the store: redis store: cannot reach redis")
    assert err.rstrip().endswith("nothing was revoked")
    assert audit_records(tmp_path / "state" / "audit.jsonl") == []


def test_bad_user_name(tmp_path, capsys):
    config = write_config(tmp_path)
    assert cli.main(["revoke", "--config", str(config), "--user", "b\nob"]) == 2
    assert "--user: user must not contain control characters" in capsys.readouterr().err
