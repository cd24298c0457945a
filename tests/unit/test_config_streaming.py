"""`limits.stream_bodies_over` (SPEC §4, §9; issue 16): the streaming threshold and
its relation to `limits.max_body_bytes`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config import ConfigError, parse_config

UPSTREAM = "http://127.0.0.1:9000"


def doc(**limits: Any) -> dict[str, Any]:
    return {
        "upstream": UPSTREAM,
        "routes": {"logout_action": None, "saml_logout": None},
        "limits": limits,
    }


def errors_of(data: object, base_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, base_dir)
    return info.value.errors


def test_default_is_one_mebibyte(tmp_path: Path) -> None:
    config = parse_config(doc(), tmp_path)
    assert config.limits.stream_bodies_over == 1048576
    assert config.limits.max_body_bytes == 65536


def test_set_explicitly(tmp_path: Path) -> None:
    config = parse_config(doc(stream_bodies_over=65536), tmp_path)
    assert config.limits.stream_bodies_over == 65536


def test_unset_follows_a_larger_max_body_bytes(tmp_path: Path) -> None:
    # Raising max_body_bytes alone never turns a valid config into an invalid one.
    config = parse_config(doc(max_body_bytes=4 * 1024 * 1024), tmp_path)
    assert config.limits.stream_bodies_over == 4 * 1024 * 1024


def test_below_max_body_bytes_is_refused_naming_both(tmp_path: Path) -> None:
    assert errors_of(doc(max_body_bytes=65536, stream_bodies_over=4096), tmp_path) == [
        "limits.stream_bodies_over: must be at least limits.max_body_bytes (65536): "
        "bodies the gateway reads are never streamed"
    ]


@pytest.mark.parametrize("value", [0, -1, 64 * 1024 * 1024 + 1, True, "1m", 1.5, None])
def test_bad_values_are_refused(tmp_path: Path, value: object) -> None:
    errors = errors_of(doc(stream_bodies_over=value), tmp_path)
    assert len(errors) == 1 and errors[0].startswith("limits.stream_bodies_over: "), errors


def test_a_bad_max_body_bytes_does_not_add_a_second_error(tmp_path: Path) -> None:
    assert errors_of(doc(max_body_bytes=0, stream_bodies_over=4096), tmp_path) == [
        "limits.max_body_bytes: must be between 1 and 67108864 (64 MiB) (got 0)"
    ]


def test_typo_is_an_unknown_key(tmp_path: Path) -> None:
    errors = errors_of(doc(stream_body_over=4096), tmp_path)
    assert errors == ["limits.stream_body_over: unknown key (did you mean 'stream_bodies_over'?)"]
