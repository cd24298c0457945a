"""Issue 11 (hardening) in the real addon under taddons: items 2, 3 and 4.

Item 2: one audit writer; item 3: no fail-open gap at start-up and one owner
closes the runtime; item 4: flood control wired into a started gateway.
"""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from gwtest import audit_records
from mitmproxy.test import taddons
from test_addon import flow, started, write_config
from tlstest import TestCA

import gateway.mitm
from gateway.audit import AuditInUse, AuditLog, verify
from gateway.config import load_config
from gateway.mitm import HANDLED, LogoutGateway
from gateway.runtime import start


def run(coro):
    return asyncio.run(coro)


# --------------------------------------------------------------------------- item 2


def test_item2_second_writer_of_one_audit_file_is_refused_naming_the_pid(tmp_path):
    first = AuditLog(tmp_path / "audit.jsonl", fsync=False)
    first.open()
    try:
        second = AuditLog(tmp_path / "audit.jsonl", fsync=False)
        with pytest.raises(AuditInUse) as err:
            second.open()
        assert str(err.value) == (
            f"audit log {tmp_path / 'audit.jsonl'} is in use by another gateway (pid {os.getpid()})"
        )
    finally:
        first.close()
    # released at close: the next gateway takes over and continues the chain
    with AuditLog(tmp_path / "audit.jsonl", fsync=False):
        pass


def test_item2_a_second_addon_on_the_same_audit_path_does_not_start(tmp_path, caplog):
    config = write_config(tmp_path)

    async def go():
        runtime = await start(load_config(config), background=False)
        try:
            addon = LogoutGateway()
            with taddons.context(addon) as tctx:
                tctx.configure(addon, gateway_config=str(config))
                await addon.running()
                assert addon.runtime is None  # refused to start: audit file in use
                f = flow("GET", "/web/api", cookie="JSESSIONID=a")
                await addon.request(f)
                assert f.response is not None and f.response.status_code == 503
                assert "is in use by another gateway (pid" in caplog.text
        finally:
            await runtime.close()

    run(go())


# --------------------------------------------------------------------------- item 3


def test_item3_exception_during_startup_answers_503_and_closes_the_half_started_runtime(
    tmp_path, monkeypatch
):
    pair = TestCA(tmp_path / "ca").issue("gw", ["127.0.0.1"])
    config = write_config(tmp_path, tls={"cert_file": str(pair.cert), "key_file": str(pair.key)})

    def boom(_config):
        raise RuntimeError("injected during start-up")

    # After the runtime (store, audit file) is up, before it is handed over:
    # the request waiting on start-up used to propagate this into mitmproxy,
    # which logs it and forwards the flow unchecked.
    monkeypatch.setattr(gateway.mitm, "write_combined_pem", boom)

    async def go():
        addon = LogoutGateway()
        with taddons.context(addon) as tctx:
            tctx.configure(addon, gateway_config=str(config))
            waiting = flow("GET", "/web/api", cookie="JSESSIONID=a")
            await addon.request(waiting)  # arrives while start-up is in flight
            assert waiting.response is not None and waiting.response.status_code == 503
            assert waiting.metadata[HANDLED] == "responded"
            assert addon.runtime is None
            await addon.running()
            later = flow("GET", "/web/api")
            await addon.request(later)
            assert later.response is not None and later.response.status_code == 503
            await addon.done()
        # the half-started runtime was closed: its audit lock is free again
        with AuditLog(tmp_path / "audit.jsonl", fsync=False):
            pass

    run(go())


def test_item3_exception_awaiting_startup_in_the_request_hook_is_refused(tmp_path):
    async def go():
        addon = LogoutGateway()
        with taddons.context(addon):

            async def broken() -> None:
                raise RuntimeError("start-up task failed unexpectedly")

            addon._starting = asyncio.ensure_future(broken())
            f = flow("GET", "/web/api")
            await addon.request(f)
            assert f.response is not None and f.response.status_code == 503
            assert f.metadata[HANDLED] == "responded"

    run(go())


def test_item3_a_runtime_handed_in_is_closed_by_its_owner_only(tmp_path):
    config = load_config(write_config(tmp_path))

    async def go():
        runtime = await start(config, background=False)
        closes = 0
        real_close = runtime.store.close

        async def counting_close() -> None:
            nonlocal closes
            closes += 1
            await real_close()

        runtime.store.close = counting_close  # type: ignore[method-assign]
        addon = LogoutGateway(runtime)
        with taddons.context(addon):
            await addon.done()  # `gateway run` owns it: the addon leaves it open
            assert closes == 0
            f = flow("POST", "/cas/logout", cookie="JSESSIONID=z")
            await addon.request(f)
            assert f.response.status_code == 200
        await runtime.close()
        await runtime.close()  # a second close is a no-op
        assert closes == 1

    run(go())


# --------------------------------------------------------------------------- item 4


def test_item4_flood_limit_in_a_started_gateway(tmp_path):
    config = write_config(
        tmp_path,
        audit={"path": "audit.jsonl", "fsync": False, "flood": {"per_client_per_minute": 3}},
    )

    async def go():
        addon = LogoutGateway()
        with taddons.context(addon) as tctx:
            await started(tctx, addon, config)
            for _ in range(10):
                f = flow("POST", "/cas/logout")  # no credential: anyone can send it
                await addon.request(f)
                assert f.response.status_code == 200  # the answer is unchanged
            f = flow("POST", "/cas/logout", cookie="JSESSIONID=real")
            await addon.request(f)
            await addon.done()  # closes the minute: its summary is written
        recs = audit_records(tmp_path / "audit.jsonl")
        assert [(r["event"], r["outcome"]) for r in recs] == [
            *[("logout", "no_session")] * 3,
            ("logout", "success"),
            ("suppressed", None),
        ]
        assert recs[-1]["count"] == 7 and recs[-1]["client"] == recs[0]["client"]
        assert verify([tmp_path / "audit.jsonl"]).ok
        assert json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[-1])["count"] == 7

    run(go())
