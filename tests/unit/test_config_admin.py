"""Issue 15's config keys: `admin.listen`, `admin.token_file` (SPEC §4.1) and the
`sessions.user_header` extension; every problem named by its key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gateway.config import ConfigError, parse_config
from gateway.config.sections import ADMIN_KEYS

TOKEN = "t0ken-for-the-admin-server-0123456789abcdef"


def doc(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "upstream": "http://127.0.0.1:9000",
        "routes": {"logout_action": None, "saml_logout": None},
    }
    base.update(extra)
    return base


def errors_of(data: dict[str, Any], base: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, base)
    return info.value.errors


def token_file(tmp_path: Path, text: str = TOKEN + "\n", mode: int = 0o600) -> Path:
    path = tmp_path / "admin-token"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_admin_is_off_by_default(tmp_path: Path) -> None:
    admin = parse_config(doc(), tmp_path).admin
    assert (admin.listen_host, admin.listen_port, admin.token_file, admin.token) == (
        None,
        None,
        None,
        None,
    )
    assert ADMIN_KEYS == ("listen", "token_file")


def test_admin_listen_and_token(tmp_path: Path) -> None:
    path = token_file(tmp_path, f"  {TOKEN}\n\n")
    admin = parse_config(
        doc(admin={"listen": "127.0.0.1:9180", "token_file": "admin-token"}), tmp_path
    ).admin
    assert (admin.listen_host, admin.listen_port) == ("127.0.0.1", 9180)
    assert admin.token_file == path
    assert admin.token == TOKEN  # surrounding whitespace stripped
    assert TOKEN not in repr(admin)


def test_admin_listen_null_and_ipv6(tmp_path: Path) -> None:
    assert parse_config(doc(admin={"listen": None}), tmp_path).admin.listen_host is None
    admin = parse_config(doc(admin={"listen": "[::1]:0"}), tmp_path).admin
    assert (admin.listen_host, admin.listen_port) == ("::1", 0)


@pytest.mark.parametrize(
    ("public", "admin"),
    [
        ("127.0.0.1:8080", "127.0.0.1:8080"),
        ("0.0.0.0:8080", "127.0.0.1:8080"),
        ("127.0.0.1:8080", "0.0.0.0:8080"),
    ],
)
def test_admin_listen_must_differ_from_the_public_one(
    tmp_path: Path, public: str, admin: str
) -> None:
    assert errors_of(doc(listen=public, admin={"listen": admin}), tmp_path) == [
        f"admin.listen: must differ from the public listen address ({public}): "
        "the admin server never shares the proxy's port"
    ]


def test_admin_listen_other_port_or_host_is_fine(tmp_path: Path) -> None:
    parse_config(doc(listen="127.0.0.1:8080", admin={"listen": "127.0.0.2:8080"}), tmp_path)
    parse_config(doc(listen="127.0.0.1:0", admin={"listen": "127.0.0.1:0"}), tmp_path)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("9180", "invalid host '9180'"),
        ("localhost", 'must be "host:port", e.g. "127.0.0.1:8080"'),
        (9180, 'must be a string "host:port"'),
        ("localhost:99999", "port must be between 0 and 65535"),
    ],
)
def test_admin_listen_refused(tmp_path: Path, value: object, problem: str) -> None:
    [error] = errors_of(doc(admin={"listen": value}), tmp_path)
    assert error.startswith("admin.listen: ") and problem in error


def test_token_file_problems_name_the_key_and_never_echo_the_token(tmp_path: Path) -> None:
    cases = {
        "missing": (None, "file not found"),
        "short": ("x" * 31, "at least 32 characters (has 31)"),
        "empty": ("  \n", "is empty"),
        "two words": (TOKEN + " " + TOKEN, "one word of printable ASCII"),
        "non-ascii": (TOKEN + "é", "printable ASCII"),
    }
    for name, (text, problem) in cases.items():
        path = tmp_path / name.replace(" ", "-")
        if text is not None:
            path.write_text(text)
            os.chmod(path, 0o600)
        [error] = errors_of(doc(admin={"listen": "127.0.0.1:0", "token_file": str(path)}), tmp_path)
        assert error.startswith("admin.token_file: ") and problem in error, (name, error)
        assert TOKEN not in error


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o601])
def test_token_file_open_to_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = token_file(tmp_path, mode=mode)
    [error] = errors_of(doc(admin={"token_file": str(path)}), tmp_path)
    assert error == (
        f"admin.token_file: {path} is open to group or others (mode {mode:04o}); "
        f"make it readable by the gateway's user only: chmod 600 {path}"
    )


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_token_file_for_the_owner_only_is_fine(tmp_path: Path, mode: int) -> None:
    path = token_file(tmp_path, mode=mode)
    assert parse_config(doc(admin={"token_file": str(path)}), tmp_path).admin.token == TOKEN


def test_admin_unknown_key_and_every_problem_at_once(tmp_path: Path) -> None:
    errors = errors_of(
        doc(listen="127.0.0.1:8080", admin={"listen": "127.0.0.1:8080", "tokn_file": "x"}),
        tmp_path,
    )
    assert errors == [
        "admin.tokn_file: unknown key (did you mean 'token_file'?)",
        "admin.listen: must differ from the public listen address (127.0.0.1:8080): "
        "the admin server never shares the proxy's port",
    ]


def test_user_header(tmp_path: Path) -> None:
    assert parse_config(doc(), tmp_path).sessions.user_header is None
    config = parse_config(doc(sessions={"user_header": "X-Authenticated-User"}), tmp_path)
    assert config.sessions.user_header == "x-authenticated-user"
    [error] = errors_of(doc(sessions={"user_header": "X User"}), tmp_path)
    assert error == (
        "sessions.user_header: invalid header name 'X User' (RFC 9110 token characters only)"
    )
