"""Parsers for file-system paths in the config: relative to the config file's folder,
'~' expanded; input files checked for being readable regular files."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from gateway.config.values import describe

__all__ = ["MIN_ADMIN_TOKEN_CHARS", "file_converter", "path_converter", "secret_file_converter"]

MIN_ADMIN_TOKEN_CHARS = 32


def path_converter(base_dir: Path) -> Callable[[object], Path]:
    """Absolute path: '~' expanded, relative ones taken from the config file's folder."""

    def convert(value: object) -> Path:
        if not isinstance(value, str):
            raise ValueError(f"must be a path string (got {describe(value)})")
        if not value:
            raise ValueError("must not be empty")
        if "\x00" in value:
            raise ValueError("must not contain a NUL character")
        try:
            path = Path(value).expanduser()
        except RuntimeError:
            raise ValueError(f"cannot expand '~' in {value!r}") from None
        return Path(os.path.abspath(base_dir / path))

    return convert


def file_converter(base_dir: Path) -> Callable[[object], Path]:
    """An input file that exists and can be read now (content is checked elsewhere)."""
    to_path = path_converter(base_dir)

    def convert(value: object) -> Path:
        path = to_path(value)
        problem = _file_problem(path)
        if problem is not None:
            raise ValueError(problem)
        return path

    return convert


def _file_problem(path: Path) -> str | None:
    """Why `path` cannot be used as an input file, or None. Content is checked elsewhere."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return f"file not found: {path}"
    except PermissionError:
        return f"not readable: {path}"
    except OSError as exc:
        return f"cannot access {path}: {exc.strerror}"
    if not stat.S_ISREG(mode):
        return f"not a file: {path}"
    # Opening is the only reliable readability test (ACLs, root, read-only mounts).
    try:
        with path.open("rb"):
            pass
    except PermissionError:
        return f"not readable: {path}"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    return None


def secret_file_converter(base_dir: Path) -> Callable[[object], tuple[Path, str]]:
    """A file holding one bearer secret (`admin.token_file`): (path, secret).

    Surrounding whitespace (a trailing newline) is stripped; the secret must be
    at least MIN_ADMIN_TOKEN_CHARS printable ASCII characters without spaces (it
    travels in an Authorization header). The file must not be open to group or
    others (mode 0600 or stricter), as ssh insists for its keys: a secret
    anyone on the host can read protects nothing. Never echoes the content.
    """
    to_file = file_converter(base_dir)

    def convert(value: object) -> tuple[Path, str]:
        path = to_file(value)
        mode = path.stat().st_mode
        if mode & 0o077:
            raise ValueError(
                f"{path} is open to group or others (mode {stat.S_IMODE(mode):04o}); "
                f"make it readable by the gateway's user only: chmod 600 {path}"
            )
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror}") from None
        try:
            secret = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            raise ValueError(f"{path}: the token must be printable ASCII") from None
        if not secret:
            raise ValueError(f"{path} is empty")
        if any(not ch.isprintable() or ch.isspace() for ch in secret):
            raise ValueError(f"{path}: the token must be one word of printable ASCII")
        if len(secret) < MIN_ADMIN_TOKEN_CHARS:
            raise ValueError(
                f"{path}: the token must be at least {MIN_ADMIN_TOKEN_CHARS} characters "
                f"(has {len(secret)}); e.g. `openssl rand -hex 32 > {path}`"
            )
        return path, secret

    return convert
