"""`gateway replay`: run captured traffic through the gateway logic, offline.

A fresh in-memory store, flows in their recorded order, learning from the
recorded responses, the clock set to each flow's recorded time. Nothing is
sent anywhere and nothing is written but the optional report. The point: an
operator records a cluster's real traffic (`mitmdump -w`) and sees what a
config would have done with it before deploying it.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TextIO

from gateway.audit import AuditEvent
from gateway.config import Config
from gateway.credentials import Fingerprinter
from gateway.engine import Gateway
from gateway.http import Forward, RecordedFlow, Respond
from gateway.keys import load_idp_keys, load_protocol_keys
from gateway.oidc.keys import load_logout_token_verifier
from gateway.routes import path_without_params
from gateway.store.memory import MemoryStore

log = logging.getLogger("gateway")


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _CollectingAudit:
    """Audit events of the current flow, kept in memory."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    async def write(self, ev: AuditEvent) -> dict[str, object]:
        self.events.append(ev)
        return {"event": ev.event}


@dataclass
class FlowResult:
    index: int
    file: str
    method: str
    path: str  # without `;params` and the query: both can carry session ids, tickets
    route: str | None
    decision: str  # "forward" | "respond" | "error"
    status: int | None  # the gateway's answer (respond) or the recorded one (forward)
    event: str | None
    events: list[str] = field(default_factory=list)
    reason: str | None = None
    outcome: str | None = None
    credentials: list[str] = field(default_factory=list)  # fingerprints only
    error: str | None = None


async def replay(
    config: Config,
    flows: Iterable[tuple[str, RecordedFlow]],
    progress: Callable[[int], None] | None = None,
) -> list[FlowResult]:
    """What the gateway would do with each flow; `progress`, if given, is told
    how many flows are done after each one."""
    store = MemoryStore()
    await store.open()
    fingerprint = Fingerprinter(await store.fingerprint_key(config.store.fingerprint_key))
    signer, verifier = load_protocol_keys(config)
    logout_tokens = load_logout_token_verifier(config)
    clock = _Clock()
    audit = _CollectingAudit()
    gw = Gateway(
        config,
        store,
        audit,
        fingerprint,
        clock,
        signer=signer,
        jwt_verifier=verifier,
        logout_token_verifier=logout_tokens,
        idp_certificates=load_idp_keys(config),
    )
    results: list[FlowResult] = []
    try:
        for index, (name, flow) in enumerate(flows, start=1):
            clock.now = flow.timestamp or clock.now
            audit.events.clear()
            req = flow.request
            result = FlowResult(
                index=index,
                file=name,
                method=req.method,
                path=path_without_params(req.path),
                route=gw.route_of(req),  # by path, or by content (cas_slo)
                decision="forward",
                status=None,
                event=None,
            )
            try:
                decision = await gw.handle_request(req)
                if isinstance(decision, Respond):
                    result.decision, result.status = "respond", decision.status
                elif flow.response is not None:
                    assert isinstance(decision, Forward)
                    result.status = flow.response.status
                    await gw.handle_response(req, flow.response)
            except Exception as exc:  # the report says so; exit status follows
                log.debug("replay: flow %d raised", index, exc_info=True)
                result.decision, result.status = "error", 503
                result.error = f"{type(exc).__name__}: {exc}"
            if audit.events:
                first = audit.events[0]
                result.event = first.event
                result.events = [e.event for e in audit.events]
                result.reason = first.reason
                result.outcome = first.outcome
                result.credentials = list(first.credentials)
            results.append(result)
            if progress is not None:
                progress(index)
    finally:
        await gw.close()
    return results


def describe(r: FlowResult) -> str:
    route = r.route or "-"
    what = {"forward": "forwarded", "respond": "answered", "error": "GATEWAY ERROR"}[r.decision]
    status = r.status if r.status is not None else "-"
    extra = ""
    if r.event:
        extra = f"  [{r.event}"
        extra += f" {r.reason}" if r.reason else ""
        extra += f" {r.outcome}" if r.outcome else ""
        extra += "]"
    if r.error:
        extra += f"  {r.error}"
    return f"{r.index:>5}  {r.method:<6} {r.path[:60]:<60} {route:<16} {what} {status}{extra}"


def summary(results: Sequence[FlowResult]) -> str:
    decisions = Counter(r.decision for r in results)
    refused = sum(1 for r in results if r.event == "revoked_credential_use")
    logouts = Counter(f"{r.route} {r.reason}" for r in results if r.event == "logout")
    lines = [
        f"{len(results)} flows: {decisions['forward']} forwarded, "
        f"{decisions['respond']} answered by the gateway, {decisions['error']} gateway errors",
        f"  logouts: {sum(logouts.values())}"
        + (
            " (" + ", ".join(f"{k}: {v}" for k, v in sorted(logouts.items())) + ")"
            if logouts
            else ""
        ),
        f"  refused revoked credentials: {refused}",
    ]
    answers = Counter(r.status for r in results if r.decision == "respond")
    if answers:
        # Every answer the gateway gave, logouts included: the counts add up to
        # "answered by the gateway" above.
        lines.append(
            "  gateway answers by status: "
            + ", ".join(f"{k}: {v}" for k, v in sorted(answers.items()))
        )
    return "\n".join(lines)


def write_report(results: Sequence[FlowResult], out: TextIO) -> None:
    for r in results:
        out.write(json.dumps(asdict(r), separators=(",", ":"), ensure_ascii=True) + "\n")
