"""The claims the gateway uses from a JWT payload, read defensively (hostile JSON)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["JWTClaims", "claim_number", "claims_from_payload"]


@dataclass(frozen=True, slots=True)
class JWTClaims:
    """The claims the gateway uses; a claim that is absent or of the wrong type is None."""

    iss: str | None
    jti: str | None
    exp: float | None
    sub: str | None


def claim_number(value: object) -> float | None:
    """A finite JSON number as float, else None (bool, NaN, ±inf, huge ints, strings)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _claim_string(value: object) -> str | None:
    return value if isinstance(value, str) else None


def claims_from_payload(payload: Mapping[str, Any]) -> JWTClaims:
    return JWTClaims(
        iss=_claim_string(payload.get("iss")),
        jti=_claim_string(payload.get("jti")),
        exp=claim_number(payload.get("exp")),
        sub=_claim_string(payload.get("sub")),
    )
