"""The two ways JWT handling fails: a token to refuse, and a key file that cannot be used."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["InvalidJWT", "JWTKeyError"]


class InvalidJWT(Exception):
    """The token must be refused. ``str()`` is a short reason, never the token itself:
    "malformed", "algorithm", "signature", "expired", "not yet valid", "issuer",
    "audience"."""


class JWTKeyError(ValueError):
    """A configured key file cannot be used. One line per problem in ``errors``, each
    starting with its config key path (``tokens.jwt.key_files[0]: …``)."""

    def __init__(self, errors: str | Iterable[str]) -> None:
        self.errors: list[str] = [errors] if isinstance(errors, str) else list(errors)
        super().__init__(self.errors)

    def __str__(self) -> str:
        return "\n".join(self.errors)
