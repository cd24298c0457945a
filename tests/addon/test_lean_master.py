"""gateway.lean_master (issue 16): the trimmed hook dispatch behaves as
mitmproxy's own, and the debug-check trims leave the proxy working (the e2e
tests run every real request through `gateway run`, which applies them)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from mitmproxy import exceptions, hooks, master, options
from mitmproxy.proxy.layers.http._hooks import HttpRequestHook
from mitmproxy.test import tflow

from gateway.lean_master import event_loop_factory, trim_dispatch


class Recorder:
    def __init__(self, name: str, calls: list[str], *, fail: Exception | None = None) -> None:
        self.name = name
        self.calls = calls
        self.fail = fail

    async def request(self, flow):
        self.calls.append(self.name)
        if self.fail is not None:
            raise self.fail


class Updates:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def update(self, flows):
        self.calls.append(f"update {len(flows)}")


def run(coro):
    return asyncio.run(coro)


def trimmed_master(*addons):
    m = master.Master(options.Options())
    trim_dispatch(m)
    m.addons.add(*addons)
    return m


def test_every_addon_gets_the_hook_in_chain_order_even_after_an_error(caplog):
    async def go():
        calls: list[str] = []
        m = trimmed_master(
            Recorder("a", calls),
            Recorder("b", calls, fail=ValueError("boom")),
            Recorder("c", calls),
        )
        with caplog.at_level(logging.ERROR):
            await m.addons.handle_lifecycle(HttpRequestHook(tflow.tflow()))
        assert calls == ["a", "b", "c"]
        assert "Addon error: boom" in caplog.text

    run(go())


def test_addon_halt_stops_the_chain_and_options_errors_propagate():
    async def go():
        calls: list[str] = []
        m = trimmed_master(Recorder("a", calls, fail=exceptions.AddonHalt()), Recorder("b", calls))
        await m.addons.handle_lifecycle(HttpRequestHook(tflow.tflow()))
        assert calls == ["a"]
        m2 = trimmed_master(Recorder("x", [], fail=exceptions.OptionsError("bad")))
        with pytest.raises(exceptions.OptionsError):
            await m2.addons.trigger_event(HttpRequestHook(tflow.tflow()))

    run(go())


def test_the_table_follows_addons_added_and_removed():
    async def go():
        calls: list[str] = []
        first = Recorder("first", calls)
        m = trimmed_master(first)
        await m.addons.handle_lifecycle(HttpRequestHook(tflow.tflow()))
        m.addons.add(Recorder("second", calls))
        await m.addons.handle_lifecycle(HttpRequestHook(tflow.tflow()))
        m.addons.remove(first)
        await m.addons.handle_lifecycle(HttpRequestHook(tflow.tflow()))
        assert calls == ["first", "first", "second", "second"]

    run(go())


def test_update_is_broadcast_only_while_an_addon_listens():
    async def go():
        calls: list[str] = []
        m = trimmed_master(Recorder("a", calls))
        await m.addons.handle_lifecycle(HttpRequestHook(tflow.tflow()))
        assert calls == ["a"]
        m.addons.add(Updates(calls))
        await m.addons.handle_lifecycle(HttpRequestHook(tflow.tflow()))
        assert calls == ["a", "a", "update 1"]
        # a hook whose argument is not a flow broadcasts no update
        await m.addons.handle_lifecycle(hooks.RunningHook())
        assert calls[-1] == "update 1"

    run(go())


def test_gateway_run_uses_uvloop():
    factory = event_loop_factory()
    assert factory is not None
    loop = factory()
    try:
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()
