"""Issue 15: `gateway audit summary PATH… [--json]` over rotated files."""

from __future__ import annotations

import json
import os
import re

import pytest

from gateway import cli
from gateway.audit import AuditEvent, AuditLog
from gateway.audit.summary_report import SummaryError, format_table, summarize, to_json

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def ev(event="logout", route="cas_logout", reason="manual", outcome="success", **kw):
    return AuditEvent(event, route, reason, outcome, kw.pop("status", 200), "192.0.2.1", **kw)


@pytest.fixture
def rotated(tmp_path):
    """Two files, oldest first: audit.jsonl.1 (hour 08) and audit.jsonl (hour 09)."""
    clock = Clock()
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, fsync=False, clock=clock) as log:
        log.write_sync(ev())
        log.write_sync(ev())
        log.write_sync(ev(route="logout_action", reason="timeout"))
        log.write_sync(ev("revoked_credential_use", None, None, "rejected", status=401))
        os.rename(path, tmp_path / "audit.jsonl.1")
        clock.now += 3600
        log.write_sync(ev(route="admin", reason="admin", outcome="already_revoked"))
        log.write_sync(ev("invalid_request", "admin", "wrong admin token", "rejected", status=401))
        log.write_sync(AuditEvent("suppressed", reason="per_client_per_minute", count=7))
    return [tmp_path / "audit.jsonl.1", path]


def test_counts_by_group_event_route_reason_outcome_and_hour(rotated):
    s = summarize(rotated)
    assert s.records == 7
    assert s.first_time == "2027-01-15T08:00:00.000Z" and s.last_time.startswith("2027-01-15T09")
    data = to_json(s)
    assert data["by_event"] == {
        "logout": 4,
        "revoked_credential_use": 1,
        "invalid_request": 1,
        "suppressed": 1,
    }
    assert data["by_route"]["cas_logout"] == 2 and data["by_route"]["-"] == 2
    assert data["by_reason"]["manual"] == 2
    assert data["by_outcome"]["rejected"] == 2
    assert data["groups"][0] == {
        "event": "logout",
        "route": "cas_logout",
        "reason": "manual",
        "outcome": "success",
        "count": 2,
    }
    assert data["per_hour"] == [
        {
            "hour": "2027-01-15T08:00Z",
            "records": 4,
            "events": {"logout": 3, "revoked_credential_use": 1},
        },
        {
            "hour": "2027-01-15T09:00Z",
            "records": 3,
            "events": {"logout": 1, "invalid_request": 1, "suppressed": 1},
        },
    ]
    assert data["suppressed_not_written"] == 7
    assert data["files"] == [str(p) for p in rotated]


def test_table(rotated):
    text = format_table(summarize(rotated))
    lines = text.splitlines()
    assert lines[0] == (
        "7 records in 2 files, 2027-01-15T08:00:00.000Z .. " + lines[0].split(".. ")[1]
    )
    assert (
        "  by event: logout 4, revoked_credential_use 1, invalid_request 1, suppressed 1" in lines
    )
    assert "  flood control: 7 records counted, not written" in lines
    header = next(i for i, line in enumerate(lines) if line.startswith("event "))
    assert lines[header].split() == ["event", "route", "reason", "outcome", "count"]
    assert lines[header + 1].split() == ["logout", "cas_logout", "manual", "success", "2"]
    hourly = next(i for i, line in enumerate(lines) if line.startswith("hour (UTC)"))
    assert lines[hourly].split()[2:] == [
        "records",
        "logout",
        "revoked_credential_use",
        "invalid_request",
        "suppressed",
    ]
    assert lines[hourly + 1].split() == ["2027-01-15T08:00Z", "4", "3", "1", "0", "0"]
    assert lines[hourly + 2].split() == ["2027-01-15T09:00Z", "3", "1", "0", "1", "1"]


def test_long_reasons_are_cut_in_the_table_only(tmp_path):
    path = tmp_path / "audit.jsonl"
    long_reason = "x" * 150
    with AuditLog(path, fsync=False) as log:
        log.write_sync(ev("invalid_request", "saml_logout", long_reason, "rejected"))
    s = summarize([path])
    assert long_reason not in format_table(s) and ("x" * 39 + "…") in format_table(s)
    assert to_json(s)["groups"][0]["reason"] == long_reason


def test_empty_file(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"")
    assert format_table(summarize([path])) == "0 records in 1 file"


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda b: b + b"not json\n", ":4: not valid JSON"),
        (lambda b: b + b'{"seq": 8}\n', r":4: missing field\(s\)"),
        (lambda b: b[:-1], ":3: no trailing newline"),
    ],
)
def test_a_bad_line_is_named_by_file_and_line(rotated, damage, why, capsys):
    last = rotated[-1]
    last.write_bytes(damage(last.read_bytes()))
    with pytest.raises(SummaryError, match=why):
        summarize(rotated)
    assert cli.main(["audit", "summary", *map(str, rotated)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"gateway audit summary: {last}") and re.search(why, err)


def test_missing_file(tmp_path, capsys):
    assert cli.main(["audit", "summary", str(tmp_path / "nope.jsonl")]) == 1
    assert "nope.jsonl: cannot read: " in capsys.readouterr().err


def test_cli_table_and_json(rotated, capsys):
    assert cli.main(["audit", "summary", *map(str, rotated)]) == 0
    assert capsys.readouterr().out.startswith("7 records in 2 files")
    assert cli.main(["audit", "summary", "--json", *map(str, rotated)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["records"] == 7 and data["suppressed_not_written"] == 7
