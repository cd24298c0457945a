"""`gateway audit summary PATH… [--json]` (SPEC §11): what the audit files say,
counted — by event, route, reason and outcome, and per hour.

Files are given oldest first, like `gateway audit verify` (rotated ones
included); each is read line by line, so memory stays flat however large the
files (it grows only with the number of distinct groups and hours). Every line
is parsed with the audit package's own record parser: a line it refuses stops
the summary with `file:line: why` (`gateway audit verify` then says more about
the chain). Counting is all it does: it does not check the hash chain.

A `suppressed` record stands for `count` records flood control did not write
(SPEC §7.1); their sum is reported on its own line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.audit.lines import AuditLineError, read_records

__all__ = ["AuditSummary", "SummaryError", "format_table", "summarize", "to_json"]

Group = tuple[str, str, str, str]  # event, route, reason, outcome ("-" for null)
REASON_WIDTH = 40  # table column; --json has the whole reason


class SummaryError(Exception):
    """A file cannot be read or a line is not a record; the message names file:line."""


@dataclass
class AuditSummary:
    files: list[str]
    records: int = 0
    first_time: str | None = None
    last_time: str | None = None
    groups: Counter[Group] = field(default_factory=Counter)
    per_hour: dict[str, Counter[str]] = field(default_factory=dict)  # "YYYY-MM-DDTHH" → events
    suppressed_not_written: int = 0

    def by(self, index: int) -> Counter[str]:
        out: Counter[str] = Counter()
        for group, n in self.groups.items():
            out[group[index]] += n
        return out


def _text(value: object) -> str:
    return "-" if value is None else str(value)


def summarize(paths: Sequence[Path], progress: Callable[[int], None] | None = None) -> AuditSummary:
    summary = AuditSummary(files=[str(p) for p in paths])
    try:
        for item in read_records(paths, progress):
            _count(summary, item.record)
    except AuditLineError as exc:
        raise SummaryError(str(exc)) from None
    return summary


def _count(summary: AuditSummary, record: dict[str, Any]) -> None:
    summary.records += 1
    event = str(record["event"])
    group = (event, _text(record["route"]), _text(record["reason"]), _text(record["outcome"]))
    summary.groups[group] += 1
    time = str(record["time"])
    summary.first_time = summary.first_time or time
    summary.last_time = time
    summary.per_hour.setdefault(time[:13], Counter())[event] += 1
    if event == "suppressed":
        summary.suppressed_not_written += int(record.get("count") or 0)


def to_json(summary: AuditSummary) -> dict[str, Any]:
    return {
        "files": summary.files,
        "records": summary.records,
        "first_time": summary.first_time,
        "last_time": summary.last_time,
        "by_event": dict(summary.by(0).most_common()),
        "by_route": dict(summary.by(1).most_common()),
        "by_reason": dict(summary.by(2).most_common()),
        "by_outcome": dict(summary.by(3).most_common()),
        "groups": [
            {"event": e, "route": r, "reason": why, "outcome": o, "count": n}
            for (e, r, why, o), n in sorted(summary.groups.items(), key=_group_order)
        ],
        "per_hour": [
            {"hour": f"{hour}:00Z", "records": sum(events.values()), "events": dict(events)}
            for hour, events in sorted(summary.per_hour.items())
        ],
        "suppressed_not_written": summary.suppressed_not_written,
    }


def _group_order(item: tuple[Group, int]) -> tuple[int, Group]:
    return (-item[1], item[0])


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(summary: AuditSummary) -> str:
    files = f"{len(summary.files)} file" + ("" if len(summary.files) == 1 else "s")
    lines = [f"{summary.records:,} records in {files}"]
    if summary.records == 0:
        return lines[0]
    lines[0] += f", {summary.first_time} .. {summary.last_time}"
    for index, name in enumerate(("event", "route", "reason", "outcome")):
        counts = ", ".join(
            f"{_cut(k, REASON_WIDTH)} {n:,}" for k, n in summary.by(index).most_common()
        )
        lines.append(f"  by {name}: {counts}")
    if summary.suppressed_not_written:
        lines.append(
            f"  flood control: {summary.suppressed_not_written:,} records counted, not written"
        )
    rows = [
        (e, r, _cut(why, REASON_WIDTH), o, f"{n:,}")
        for (e, r, why, o), n in sorted(summary.groups.items(), key=_group_order)
    ]
    lines += ["", *_table(("event", "route", "reason", "outcome", "count"), rows, numeric=1)]
    events = [e for e, _ in summary.by(0).most_common()]
    hourly = [
        (f"{hour}:00Z", f"{sum(c.values()):,}", *(f"{c.get(e, 0):,}" for e in events))
        for hour, c in sorted(summary.per_hour.items())
    ]
    header = ("hour (UTC)", "records", *events)
    lines += ["", *_table(header, hourly, numeric=len(header) - 1)]
    return "\n".join(lines)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: int) -> list[str]:
    """Aligned columns; the last `numeric` columns right-aligned."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    first_numeric = len(header) - numeric

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i >= first_numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(header), *(line(r) for r in rows)]
