"""`gateway replay`: captured traffic through the gateway logic, offline."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
from mitmproxy.io import FlowReader
from test_replay_addon import EXPECTED, R, config_for_replay

from gateway import cli
from gateway.config import load_config
from gateway.engine import Gateway
from gateway.mitm import read_captures as load
from gateway.replay import replay

BIN = [sys.executable, "-m", "gateway"]


def raw_credentials(paths) -> set[str]:
    """Every credential value the captures carry, to prove none leaks."""
    found: set[str] = set()
    for path in paths:
        with path.open("rb") as f:
            for flow in FlowReader(f).stream():
                req = flow.request
                for value in req.headers.get_all("cookie"):
                    found.update(v.split("=", 1)[1] for v in value.split("; ") if "=" in v)
                for value in req.headers.get_all("authorization"):
                    found.add(value.split(" ", 1)[1])
                found.update(re.findall(r"ST-[0-9a-f]+-cas", req.path))
                found.update(
                    re.findall(r"ST-[0-9a-f]+-cas", (req.raw_content or b"").decode("latin-1"))
                )
                found.update(re.findall(r"jsessionid=([^;/?&]+)", req.path, re.IGNORECASE))
                form = parse_qs((req.raw_content or b"").decode("latin-1"))
                found.update(form.get("logout_token", []))
                for body in (req.raw_content or b"", flow.response.raw_content or b""):
                    try:
                        data = json.loads(body)
                    except ValueError:
                        continue
                    if isinstance(data, dict):
                        for key in ("token", "refresh_token", "access_token", "content"):
                            if isinstance(data.get(key), str):
                                found.add(data[key])
                        uri = data.get("redirect_uri")
                        if isinstance(uri, str):  # the OIDC callback: its id_token
                            found.update(parse_qs(urlsplit(uri).fragment).get("id_token", []))
    return {v for v in found if len(v) >= 8}


def test_replay_reports_every_flow_without_credentials(tmp_path, flows):
    config = config_for_replay(tmp_path)
    files = [flows["cas"], flows["saml"], flows["bad"], flows["oidc"], flows["slo"]]
    report = tmp_path / "report.jsonl"
    result = subprocess.run(
        [*BIN, "replay", *map(str, files), "--config", str(config), "--report", str(report)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    expected = (
        EXPECTED["cas"] + EXPECTED["saml"] + EXPECTED["bad"] + EXPECTED["oidc"] + EXPECTED["slo"]
    )
    assert [(r["decision"], r["status"]) for r in rows] == expected
    for row in rows:
        assert {"index", "method", "path", "route", "decision", "status", "event"} <= set(row)
        # issue 11, item 1: `;jsessionid=` and the query are credentials, never printed
        assert "?" not in row["path"] and ";" not in row["path"]
    assert any(r["path"] == "/web/api/v2/clusters" and r["status"] == 401 for r in rows)
    refused = [r for r in rows if r["event"] == "revoked_credential_use"]
    assert refused and all((r["decision"], r["status"]) == (R, 401) for r in refused)
    logouts = [r for r in rows if r["event"] == "logout"]
    assert {r["route"] for r in logouts} == {
        "cas_logout",
        "logout_action",
        "saml_logout",
        "oidc_logout",
        "token_invalidate",
        "oidc_backchannel",
        "cas_slo",
    }
    assert sorted({r["reason"] for r in logouts}) == [
        "api",
        "backchannel",
        "frontchannel",
        "manual",
        "timeout",
    ]
    # the refresh grant shares the token API's path: never reported as token_invalidate
    assert all(r["route"] is None for r in rows if r["method"] == "POST" and "oauth2" in r["path"])
    # issue 13: a recorded CAS single logout is named as the route it is
    slo = [r for r in rows if r["file"] == "slo.mitm" and r["decision"] == R and r["status"] == 200]
    assert [(r["method"], r["path"], r["route"]) for r in slo] == [
        ("POST", "/web/", "cas_slo"),
        ("POST", "/web/", "cas_slo"),
        ("GET", "/web/", "cas_slo"),
    ]
    assert [r["outcome"] for r in slo] == ["success", "unknown_ticket", "success"]
    assert "cas_slo" in result.stdout  # the printed table names it too
    assert "gateway errors" in result.stdout and "0 gateway errors" in result.stdout
    secrets = raw_credentials(files)
    assert secrets  # the captures do hold credentials…
    text = result.stdout + result.stderr + report.read_text()
    leaked = [s for s in secrets if s in text]
    assert not leaked, f"{len(leaked)} raw credential(s) in the replay output"  # …the output none


def test_unreadable_capture_is_a_clear_error(tmp_path):
    config = config_for_replay(tmp_path)
    bogus = tmp_path / "bogus.mitm"
    bogus.write_bytes(b"this is not a flow file")
    result = subprocess.run(
        [*BIN, "replay", str(bogus), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "bogus.mitm" in result.stderr and "Traceback" not in result.stderr


def test_gateway_error_in_a_flow_means_nonzero_exit(tmp_path, flows, monkeypatch, capsys):
    config_path = config_for_replay(tmp_path)
    original = Gateway.handle_request

    async def explode_on_logout_action(self, req):
        if "logout_action" in req.path:
            raise RuntimeError("injected")
        return await original(self, req)

    monkeypatch.setattr(Gateway, "handle_request", explode_on_logout_action)
    results = asyncio.run(replay(load_config(config_path), load([flows["cas"]])))
    errors = [r for r in results if r.decision == "error"]
    assert len(errors) == 3 and all(r.status == 503 for r in errors)
    code = cli.main(["replay", str(flows["cas"]), "--config", str(config_path), "-q"])
    assert code == 1
    assert "3 gateway errors" in capsys.readouterr().out


@pytest.mark.parametrize("scenario", ["cas", "saml", "bad", "oidc", "slo"])
def test_replay_in_process_matches_the_addon(tmp_path, flows, scenario):
    config = load_config(config_for_replay(tmp_path))
    results = asyncio.run(replay(config, load([flows[scenario]])))
    assert [(r.decision, r.status) for r in results] == EXPECTED[scenario]


def test_item6_replay_summary_counts_every_gateway_answer_by_status(tmp_path, flows):
    """Issue 11, item 6: "N answered by the gateway" was followed by per-status
    counts that left out the logout answers (200/302)."""
    config = config_for_replay(tmp_path)
    result = subprocess.run(
        [*BIN, "replay", str(flows["cas"]), "--config", str(config), "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    answered = int(re.search(r"(\d+) answered by the gateway", result.stdout).group(1))
    by_status = re.search(r"gateway answers by status: (.*)", result.stdout).group(1)
    counts = dict(item.split(": ") for item in by_status.split(", "))
    assert sum(map(int, counts.values())) == answered
    assert {"200", "302", "401"} <= set(counts)
