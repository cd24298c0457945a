"""The one statistic every figure is reported as."""

from __future__ import annotations

import statistics


def median(values: list[float]) -> float:
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else float("nan")
