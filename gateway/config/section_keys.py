"""The YAML keys of a config section, derived from its dataclass in gateway.config.model,
so the dataclass is the one list of keys (unknown-key checks and "did you mean" hints
follow a new field without further edits)."""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["yaml_keys"]


@functools.cache
def _field_names(model: type[DataclassInstance]) -> tuple[str, ...]:
    return tuple(f.name for f in fields(model))


def yaml_keys(
    model: type[DataclassInstance],
    *,
    renamed: Mapping[str, str] | None = None,
    not_in_yaml: Collection[str] = (),
) -> tuple[str, ...]:
    """The field names of `model`, in order, as YAML keys. `renamed` maps a field to the
    key it is read from (several fields may share one key, e.g. `listen`); fields in
    `not_in_yaml` are not keys at all. Naming a field the model lacks is a TypeError, so
    these lists cannot drift from the dataclass either."""
    names = _field_names(model)
    renamed = renamed or {}
    strays = sorted((set(renamed) | set(not_in_yaml)) - set(names))
    if strays:
        raise TypeError(f"{model.__name__} has no field {', '.join(strays)}")
    keys = (renamed.get(name, name) for name in names if name not in not_in_yaml)
    return tuple(dict.fromkeys(keys))
