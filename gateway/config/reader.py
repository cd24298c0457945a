"""Reading one mapping of the config document: unknown keys refused (with a "did you
mean"), each value converted by a parser from gateway.config.values / addresses / files,
and every problem collected instead of raised, so validation always carries on."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from gateway.config.errors import ErrorCollector
from gateway.config.files import file_converter, path_converter
from gateway.config.section_keys import yaml_keys
from gateway.config.values import as_str, describe, optional

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["SectionReader"]

T = TypeVar("T")


class SectionReader:
    """One mapping of the document at a key path: refuses unknown keys, and turns a bad
    value into an error line plus the default, so validation always carries on."""

    def __init__(
        self,
        errors: ErrorCollector,
        base_dir: Path,
        path: str,
        value: object,
        keys: Sequence[str],
        *,
        null_hint: str | None = None,
    ) -> None:
        self.errors = errors
        self.base_dir = base_dir
        self.path = path
        self.data: dict[str, object] = {}
        if value is None and null_hint is None:
            return  # an empty section (every sub-key commented out): all defaults
        if not isinstance(value, dict):
            hint = f"; {null_hint}" if null_hint and value is None else ""
            errors.add(path, f"must be a mapping (got {describe(value)}){hint}")
            return
        for key, item in value.items():
            if isinstance(key, str) and key in keys:
                self.data[key] = item
            else:
                errors.add(self.child(str(key)), "unknown key" + _suggest(str(key), keys))

    def child(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> object:
        return self.data.get(key)

    def error(self, key: str, problem: str) -> None:
        self.errors.add(self.child(key), problem)

    def section(
        self, key: str, model: type[DataclassInstance], *, null_hint: str | None = None
    ) -> SectionReader:
        """The sub-mapping at `key`, whose allowed keys are the fields of `model`."""
        # The hint applies to an explicit null only; a missing section means the defaults.
        hint = null_hint if self.has(key) else None
        return SectionReader(
            self.errors,
            self.base_dir,
            self.child(key),
            self.raw(key),
            yaml_keys(model),
            null_hint=hint,
        )

    def get(self, key: str, default: T, convert: Callable[[object], T]) -> T:
        if key not in self.data:
            return default
        try:
            return convert(self.data[key])
        except ValueError as exc:
            self.error(key, str(exc))
            return default

    def items(
        self,
        key: str,
        default: tuple[T, ...],
        convert: Callable[[object], T],
        *,
        allow_empty: bool = False,
        indexed: bool = True,
    ) -> tuple[T, ...]:
        """A list whose items are checked one by one (errors at `key[i]` when `indexed`)."""
        if key not in self.data:
            return default
        value = self.data[key]
        if not isinstance(value, list):
            self.error(key, f"must be a list (got {describe(value)})")
            return default
        if not value and not allow_empty:
            self.error(key, "must not be empty")
            return default
        result: list[T] = []
        for index, item in enumerate(value):
            try:
                result.append(convert(item))
            except ValueError as exc:
                self.error(f"{key}[{index}]" if indexed else key, str(exc))
        return tuple(result)

    def output_path(self, key: str, default: Path, *, directory: bool = False) -> Path:
        """A path the gateway creates later (state dir, db, audit log). Checked even when
        defaulted: an existing thing of the wrong kind fails at startup, not mid-traffic."""
        path = self.get(key, default, path_converter(self.base_dir))
        if self.errors.at_or_above(self.child(key)):
            return path
        if directory and path.exists() and not path.is_dir():
            self.error(key, f"not a directory: {path}")
        elif not directory and path.is_dir():
            self.error(key, f"is a directory: {path}")
        return path

    def file(self, key: str) -> Path | None:
        return self.get(key, None, optional(file_converter(self.base_dir)))

    def optional_str(self, key: str) -> str | None:
        return self.get(key, None, optional(as_str))


def _suggest(key: str, keys: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, keys, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
