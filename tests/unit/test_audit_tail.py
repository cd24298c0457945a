"""Issue 15: following the audit file for the status page (last records,
logouts per hour by reason), across appends, rotation and truncation."""

from __future__ import annotations

import os

import gateway.admin.audit_tail as audit_tail
from gateway.admin.audit_tail import AuditFollower
from gateway.audit import AuditEvent, AuditLog

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def write(log: AuditLog, *reasons: str, event: str = "logout") -> None:
    for reason in reasons:
        log.write_sync(AuditEvent(event, "r", reason, "success", 200, "192.0.2.1", "bob"))


def test_follows_appends_and_counts_logouts_per_hour(tmp_path):
    clock = Clock()
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, fsync=False, clock=clock) as log:
        follower = AuditFollower(path)
        write(log, "manual", "manual", "timeout")
        follower.refresh()
        clock.now += 3600  # the next hour
        write(log, "admin", "frontchannel")
        write(log, "x", event="revoked_credential_use")
        follower.refresh()
    recent = follower.recent()
    assert [r["seq"] for r in recent] == [6, 5, 4, 3, 2, 1]  # newest first
    assert set(recent[0]) == {
        "seq",
        "time",
        "event",
        "route",
        "reason",
        "outcome",
        "status",
        "client",
        "user",
        "credentials",
        "forwarded",
    }
    chart = follower.logouts_per_hour(clock.now)
    assert len(chart["hours"]) == 24 and chart["hours"][-1] == "2027-01-15T09:00Z"
    assert chart["series"]["manual"][-2:] == [2, 0]
    assert chart["series"]["timeout"][-2:] == [1, 0]
    assert chart["series"]["admin"][-2:] == [0, 1]
    assert chart["series"]["other"][-2:] == [0, 1]  # frontchannel is not one of the six
    assert chart["totals"] == {
        "manual": 2,
        "timeout": 1,
        "backchannel": 0,
        "idp": 0,
        "admin": 1,
        "api": 0,
        "other": 1,
    }
    # a day later the old hours are gone
    assert sum(follower.logouts_per_hour(clock.now + 25 * 3600)["totals"].values()) == 0


def test_keeps_the_last_50(tmp_path):
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, fsync=False) as log:
        write(log, *["manual"] * 60)
    follower = AuditFollower(path)
    follower.refresh()
    assert [r["seq"] for r in follower.recent()] == list(range(60, 10, -1))


def test_starts_at_the_tail_of_a_large_file(tmp_path, monkeypatch):
    monkeypatch.setattr(audit_tail, "INITIAL_TAIL_BYTES", 2000)
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, fsync=False) as log:
        write(log, *["manual"] * 40)
    follower = AuditFollower(path)
    follower.refresh()
    seqs = [r["seq"] for r in follower.recent()]
    assert seqs[0] == 40 and len(seqs) < 40  # only the tail, from a whole line on
    assert seqs == list(range(40, 40 - len(seqs), -1))
    assert follower.skipped_lines == 0


def test_rotation_and_truncation_start_over(tmp_path):
    path = tmp_path / "audit.jsonl"
    follower = AuditFollower(path)
    follower.refresh()  # no file yet: nothing, no error
    assert follower.recent() == []
    with AuditLog(path, fsync=False) as log:
        write(log, "manual", "manual")
        follower.refresh()
        os.rename(path, tmp_path / "audit.jsonl.1")  # logrotate
        write(log, "timeout")  # the writer reopens the configured path
        follower.refresh()
    assert [r["seq"] for r in follower.recent()] == [3, 2, 1]
    # truncated in place (copytruncate): read from the start again
    with open(path, "r+b") as f:
        f.truncate(0)
    with AuditLog(path, fsync=False) as log:
        write(log, "admin")
    follower.refresh()
    assert follower.recent()[0]["seq"] == 4


def test_partial_and_bad_lines(tmp_path):
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, fsync=False) as log:
        write(log, "manual")
    data = path.read_bytes()
    follower = AuditFollower(path)
    with open(path, "ab") as f:
        f.write(b'{"not": "a record"}\n')
        f.write(data[:-10])  # half a line: kept until its newline arrives
    follower.refresh()
    assert len(follower.recent()) == 1 and follower.skipped_lines == 1
    with open(path, "ab") as f:
        f.write(data[-10:])
    follower.refresh()
    assert len(follower.recent()) == 2  # the same record again, now complete
