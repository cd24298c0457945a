"""The shape of the code, checked from its imports (issue 12).

* No import cycle among the modules of `gateway/` and `addons/`: every import
  counts, also those inside functions and under `TYPE_CHECKING` (a cycle there
  is still two modules that need each other).
* mitmproxy stays in the adapter: only `gateway/mitm.py` (flows ↔ neutral
  values) and `gateway/launcher.py` (the lean master) import it (SPEC §2).
* The logout routes never reach back into the engine.

Anyone can run the same check by hand: `python -m pytest tests/unit/test_import_graph.py`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "addons")


def module_files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported_names(module: str, path: Path) -> Iterator[str]:
    """Every dotted name the module imports (absolute), with `from X import a`
    also yielding `X.a` (which may be a submodule)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")
                drop = node.level - 1 if is_package else node.level
                parent = parent[: len(parent) - drop] if drop else parent
                base = ".".join([*parent, *([base] if base else [])])
            yield base
            for alias in node.names:
                yield f"{base}.{alias.name}"


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    graph: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        for name in imported_names(module, path):
            if name in files and name != module:
                graph[module].add(name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph()
    assert len(graph) > 30  # the walk found the code base
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_the_adapter_and_the_launcher_import_mitmproxy():
    files = module_files()
    importers = {
        module
        for module, path in files.items()
        if any(
            name == "mitmproxy" or name.startswith("mitmproxy.")
            for name in imported_names(module, path)
        )
    }
    # Issue 16: gateway.mitm_bodies is the adapter's part inside mitmproxy's HTTP
    # layer, gateway.lean_master the launcher's trims of the lean master.
    assert importers == {
        "gateway.mitm",
        "gateway.mitm_bodies",
        "gateway.launcher",
        "gateway.lean_master",
    }


def test_logout_routes_get_collaborators_not_the_engine():
    graph = import_graph()
    for module, imports in graph.items():
        if module.startswith("gateway.logouts"):
            assert "gateway.engine" not in imports, module
            assert "gateway.runtime" not in imports, module
