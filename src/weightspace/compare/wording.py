"""The small pieces every sentence of the comparison is built from: the level, the
categories' names, p-values, percentages, power look-ups and intervals."""

from __future__ import annotations

import math
import numbers

import pandas as pd

from weightspace.vocabulary import Category

ALPHA = 0.05
NAMES = {Category.DP.value: "dropout", Category.WD.value: "weight decay",
         Category.DIV.value: "data diversity", Category.GEN.value: "synthetic data"}  # fmt: skip


def finite(value: object) -> bool:
    """A finite real number, numpy's scalars included (a table's integer column gives
    ``numpy.int64``, which is not a Python ``int``)."""
    return isinstance(value, numbers.Real) and math.isfinite(value)


def fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def name_of(category: str) -> str:
    """A category's name in words (``dp`` → dropout); the code itself when it has none."""
    return NAMES.get(category, category)


def pct(value: float) -> str:
    return f"{100 * value:.0f}%" if math.isfinite(value) else "n/a"


def power_of(power: pd.DataFrame | None, verdict: str) -> float:
    """The power of ``verdict`` in a ``power`` table (NaN when absent)."""
    if power is None or power.empty:
        return float("nan")
    rows = power[power["verdict"] == verdict]
    return float(rows["power"].iloc[0]) if len(rows) else float("nan")


def interval_text(low: float, high: float, reason: str, digits: int = 2) -> str:
    if math.isfinite(low):
        return f"95% CI {low:.{digits}f} to {high:.{digits}f}"
    return reason or "no interval"
