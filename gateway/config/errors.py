"""Config problems: the exception callers see, and the list validation collects into.

Every problem is collected with its key path (``saml.sp_key_file: file not found: …``) and
reported at once, so an operator fixes a config in one pass instead of one error per run.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["ConfigError", "ErrorCollector"]


class ConfigError(Exception):
    """The config is unusable; ``errors`` holds one ``key.path: problem`` line per mistake."""

    def __init__(self, errors: str | Iterable[str]) -> None:
        self.errors: list[str] = [errors] if isinstance(errors, str) else list(errors)
        # The list (not the joined text) is the arg, so the exception survives pickling.
        super().__init__(self.errors)

    def __str__(self) -> str:
        return "\n".join(self.errors)


class ErrorCollector:
    """The error lines collected so far, plus the key paths they were reported at."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.paths: set[str] = set()

    def add(self, path: str, problem: str) -> None:
        self.lines.append(f"{path or '(top level)'}: {problem}")
        self.paths.add(path)

    def at_or_above(self, path: str) -> bool:
        """An error was reported at `path` or at a section containing it."""
        return any(path == p or path.startswith(p + ".") for p in self.paths)
