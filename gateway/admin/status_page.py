"""The status page's HTML (SPEC §11 `GET /`): one self-contained document.

No external assets of any kind — inline CSS, an inline SVG chart, one small
inline script — and a Content-Security-Policy that forbids loading anything
else (`service.STATUS_PAGE_CSP`). The server renders everything, so the page
is complete without JavaScript (a `<noscript>` meta refresh reloads it); with
JavaScript it replaces the `#live` part every few seconds with
`-/status.html`, the same fragment rendered fresh. Every value is
HTML-escaped: user names and audit reasons come from requests.
"""

from __future__ import annotations

from html import escape
from typing import Any

from gateway.admin.audit_tail import CHART_REASONS, OTHER

REFRESH_SECONDS = 5
REASON_COLOURS = {
    "manual": "#4e79a7",
    "timeout": "#f28e2b",
    "backchannel": "#59a14f",
    "idp": "#b07aa1",
    "admin": "#e15759",
    "api": "#76b7b2",
    OTHER: "#9c9c9c",
}
CARDS = (
    ("forwarded", "requests forwarded"),
    ("answered", "answered by the gateway"),
    ("refused", "refused (401/403)"),
    ("unavailable", "unavailable (503)"),
    ("error", "gateway errors"),
)

_CSS = (
    "body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f4f6f9}"
    "header{background:#1d2330;color:#fff;padding:12px 24px;display:flex;gap:24px;"
    "align-items:baseline;flex-wrap:wrap}"
    "header h1{font-size:18px;margin:0}"
    "header span{color:#b8c0cc}"
    "#updated.stale{color:#ffb4b4}"
    "main{padding:16px 24px}"
    "section{background:#fff;border-radius:6px;padding:12px 16px;margin-bottom:16px;"
    "box-shadow:0 1px 2px rgba(0,0,0,.08)}"
    "h2{font-size:15px;margin:0 0 8px}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px}"
    ".card{min-width:130px;padding:8px 12px;border:1px solid #e1e5eb;border-radius:6px}"
    ".card .v{font-size:22px;font-weight:600}"
    ".card .k{color:#5b6472;font-size:12px}"
    "table{border-collapse:collapse;width:100%;font-size:12px}"
    "th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #eceff3;vertical-align:top}"
    "th{color:#5b6472;font-weight:600}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "code{font-size:11px;color:#3b4556}"
    ".legend{list-style:none;padding:0;margin:6px 0 0;display:flex;flex-wrap:wrap;gap:14px}"
    ".sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}"
    "svg text{font-size:10px;fill:#5b6472}"
    "svg line{stroke:#e1e5eb}"
    ".muted{color:#5b6472}"
) + "".join(f".r-{r}{{fill:{c}}}.sw.r-{r}{{background:{c}}}" for r, c in REASON_COLOURS.items())

_SCRIPT = """
(function () {
  var live = document.getElementById("live");
  var note = document.getElementById("updated");
  function tick() {
    fetch("-/status.html", {cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.text(); })
      .then(function (html) {
        live.innerHTML = html;
        note.textContent = "updated " + new Date().toLocaleTimeString();
        note.className = "";
      })
      .catch(function () {
        note.textContent = "gateway unreachable, retrying";
        note.className = "stale";
      });
  }
  setInterval(tick, INTERVAL_MS);
})();
""".replace("INTERVAL_MS", str(REFRESH_SECONDS * 1000))


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def page(status: dict[str, Any], nonce: str) -> str:
    """The whole document; `nonce` allows its inline style and script (CSP)."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Logout gateway status</title>"
        f'<noscript><meta http-equiv="refresh" content="{REFRESH_SECONDS * 2}"></noscript>'
        f'<style nonce="{_e(nonce)}">{_CSS}</style></head><body>'
        "<header><h1>Logout gateway</h1>"
        f"<span>listening on {_e(status['listen'])}</span>"
        f"<span>store: {_e(status['store'])}</span>"
        f"<span>started {_e(status['started'])}</span>"
        f'<span id="updated">rendered {_e(status["generated"])}</span></header>'
        f'<main id="live">{live(status)}</main>'
        f'<script nonce="{_e(nonce)}">{_SCRIPT}</script>'
        "</body></html>\n"
    )


def live(status: dict[str, Any]) -> str:
    """The part that refreshes: counts, the chart, the tables."""
    return _counts(status) + _chart(status["logouts_per_hour"]) + _logouts(status) + _recent(status)


def _card(key: str, value: object, label: str) -> str:
    shown = "n/a" if value is None else value
    return (
        f'<div class="card" id="count-{_e(key)}"><div class="v">{_e(shown)}</div>'
        f'<div class="k">{_e(label)}</div></div>'
    )


def _counts(status: dict[str, Any]) -> str:
    requests = status["requests"]
    cards = [_card(key, requests.get(key, 0), label) for key, label in CARDS]
    cards += [
        _card("logouts", status["logouts_total"], "logouts"),
        _card("revoked-uses", status["revoked_uses"], "revoked credential uses"),
        _card("live-revocations", status["live_revocations"], "live revocations (store)"),
        _card("audit-failures", status["audit_failures"], "audit write failures"),
    ]
    return (
        f"<section><h2>Since start ({_e(status['uptime_seconds'])} s ago)</h2>"
        f'<div class="cards">{"".join(cards)}</div></section>'
    )


def _chart(data: dict[str, Any]) -> str:
    hours: list[str] = data["hours"]
    reasons = (*CHART_REASONS, OTHER)
    series: dict[str, list[int]] = data["series"]
    totals_per_hour = [sum(series[r][i] for r in reasons) for i in range(len(hours))]
    top = max([*totals_per_hour, 1])
    width, height, left, bottom, top_pad = 760, 200, 34, 22, 8
    plot_h = height - bottom - top_pad
    step = (width - left - 8) / max(len(hours), 1)
    bar = step * 0.72
    parts = [
        f'<svg width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        'aria-label="logouts per hour by reason, last 24 hours">'
    ]
    for frac in (0.0, 0.5, 1.0):
        y = top_pad + plot_h * (1 - frac)
        parts.append(f'<line x1="{left}" x2="{width - 4}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end">{round(top * frac)}</text>'
        )
    for i, hour in enumerate(hours):
        x = left + i * step + (step - bar) / 2
        y = top_pad + plot_h
        for reason in reasons:
            n = series[reason][i]
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            parts.append(
                f'<rect class="r-{reason}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}"><title>{_e(hour)} {reason}: {n}</title></rect>'
            )
        if i % 3 == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 6}" text-anchor="middle">'
                f"{_e(hour[11:16])}</text>"
            )
    parts.append("</svg>")
    legend = "".join(
        f'<li class="reason" data-reason="{reason}"><span class="sw r-{reason}"></span>'
        f"{reason} <b>{data['totals'][reason]}</b></li>"
        for reason in reasons
    )
    return (
        "<section><h2>Logouts per hour by reason (last 24 h, UTC, from the audit log)</h2>"
        f'{"".join(parts)}<ul class="legend">{legend}</ul></section>'
    )


def _logouts(status: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{_e(r['route'])}</td><td>{_e(r['reason'])}</td><td>{_e(r['outcome'])}</td>"
        f'<td class="n">{_e(r["count"])}</td></tr>'
        for r in status["logouts"]
    )
    if not rows:
        rows = '<tr><td colspan="4" class="muted">no logouts since start</td></tr>'
    return (
        '<section><h2>Logouts since start</h2><table id="logouts">'
        "<tr><th>route</th><th>reason</th><th>outcome</th><th>count</th></tr>"
        f"{rows}</table></section>"
    )


def _recent(status: dict[str, Any]) -> str:
    rows = []
    for r in status["recent"]:
        creds = " ".join(f"<code>{_e(fp)}</code>" for fp in r.get("credentials", ()))
        rows.append(
            f'<tr><td>{_e(r.get("time"))}</td><td class="n">{_e(r.get("seq"))}</td>'
            f"<td>{_e(r.get('event'))}</td><td>{_e(r.get('route'))}</td>"
            f"<td>{_e(r.get('reason'))}</td><td>{_e(r.get('outcome'))}</td>"
            f'<td class="n">{_e(r.get("status"))}</td><td>{_e(r.get("client"))}</td>'
            f"<td>{_e(r.get('user'))}</td><td>{creds}</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="10" class="muted">no audit records yet</td></tr>'
    return (
        f"<section><h2>Last {len(status['recent'])} audit records (fingerprints only)</h2>"
        '<table id="recent"><tr><th>time</th><th>seq</th><th>event</th><th>route</th>'
        "<th>reason</th><th>outcome</th><th>status</th><th>client</th><th>user</th>"
        f"<th>credentials</th></tr>{body}</table></section>"
    )
