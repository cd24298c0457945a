"""What `gateway run`'s lean master leaves out of mitmproxy's per-request work
(issue 16). Part of the launcher (`gateway.launcher` builds the master); never
applied in stock mitmdump/mitmweb, where the process is the user's.

Measured with py-spy under load and A/B runs (docs/performance.md), each of
these is per-request CPU that a reverse proxy does not need:

* **Hook dispatch.** For every hook of every flow mitmproxy walks the whole
  addon chain, looks each hook up by name on every addon, wraps every call in a
  context manager, and then broadcasts an `update` hook the same way, which no
  addon of the lean master implements. `trim_dispatch` gives the master's
  AddonManager a table of the handlers per hook (rebuilt whenever an addon is
  added or removed) with the same error handling, and skips the `update`
  broadcast while nobody listens for it.
* **Debug-mode checks.** mitmproxy type-checks every field of every HTTP
  message it builds and looks up PYTEST_CURRENT_TEST in the environment for
  every task it starts, both only `if __debug__` (so `python -O` drops them).
  `trim_debug_checks` drops those two without turning off our own asserts.
* **The event loop.** uvloop (libuv, in C) instead of asyncio's pure-Python
  selector loop: `event_loop_factory`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

from mitmproxy import exceptions, flow, hooks, http, master
from mitmproxy.addonmanager import traverse
from mitmproxy.utils import asyncio_utils

log = logging.getLogger("gateway")
_addon_log = logging.getLogger("mitmproxy.addonmanager")  # where mitmproxy logs addon errors


def trim_dispatch(m: master.Master) -> None:
    """Dispatch hooks through a per-hook handler table (see the module doc)."""
    addons = m.addons
    table: dict[str, list[Callable[..., Any]]] = {}
    register, remove = addons.register, addons.remove

    def registered(addon: Any) -> Any:
        table.clear()
        return register(addon)

    def removed(addon: Any) -> None:
        table.clear()
        remove(addon)

    def handlers(name: str) -> list[Callable[..., Any]]:
        found = table.get(name)
        if found is None:
            # As AddonManager._iter_hooks: every addon and its children, in
            # chain order; attributes that are not callable (a module that
            # shares a hook's name) are skipped.
            found = table[name] = [
                f for a in traverse(addons.chain) if callable(f := getattr(a, name, None))
            ]
        return found

    async def trigger_event(event: hooks.Hook) -> None:
        args = event.args()
        for func in handlers(event.name):
            # mitmproxy's safecall, inline: one addon's error does not stop the others.
            try:
                result = func(*args)
                if result is not None and inspect.isawaitable(result):
                    await result
            except exceptions.AddonHalt:
                return
            except exceptions.OptionsError:
                raise
            except Exception as exc:
                _addon_log.error(f"Addon error: {exc}", exc_info=True)

    async def handle_lifecycle(event: hooks.Hook) -> None:
        await trigger_event(event)
        if handlers("update"):
            args = event.args()
            if args and isinstance(args[0], flow.Flow):
                await trigger_event(hooks.UpdateHook([args[0]]))

    # On this master's instance only (mitmproxy calls them through it).
    addons.register = registered  # type: ignore[method-assign]
    addons.remove = removed  # type: ignore[method-assign]
    addons.trigger_event = trigger_event  # type: ignore[method-assign]
    addons.handle_lifecycle = handle_lifecycle  # type: ignore[method-assign]


def _no_type_check(self: Any) -> None:
    """MessageData.__post_init__ under `python -O`: nothing."""


def _task_debug_info(
    task: asyncio.Task[Any], *, name: str, client: tuple[Any, ...] | None = None
) -> None:
    # asyncio_utils.set_task_debug_info without its per-task environment
    # lookup (which only names the pytest test a task was created in).
    task.created = time.time()  # type: ignore[attr-defined]
    task.set_name(name)
    if client:
        task.client = client  # type: ignore[attr-defined]


def trim_debug_checks() -> None:
    """Process-wide: call once, in the process that runs the lean master."""
    if "__post_init__" in vars(http.MessageData):
        http.MessageData.__post_init__ = _no_type_check  # type: ignore[method-assign]
    if hasattr(asyncio_utils, "set_task_debug_info"):
        asyncio_utils.set_task_debug_info = _task_debug_info


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when it is installed (a dependency), else None: asyncio's."""
    try:
        import uvloop
    except ImportError:
        log.debug("uvloop not installed; running on asyncio's event loop")
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory
