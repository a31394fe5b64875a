"""Multiplicity control: a pre-specified primary family (Holm) and exploratory ones (BH).

The primary family is the paper's question, fixed before looking at any result: does data
diversity differ from dropout, and from weight decay, on the main spectral metrics — the
pairs (div, dp) and (div, wd) of ``category_tests`` on ``alpha``, ``entropy``, ``log_norm``,
``log_spectral_norm`` (those analysed). Holm's step-down procedure controls the family-wise
error rate at 5%. Every other p-value belongs to an exploratory family — the remaining
category pairs and metrics, the omnibus tests, the fingerprints, dose–response and spectral
vs outcome, the
rotation tests (subspace overlap and update size, :mod:`weightspace.compare.rotation`) — each controlled for its false-discovery rate with Benjamini–Hochberg. Every
table with p-values gains ``family``, ``n_family`` (the number of tests in it) and ``p_adj``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from weightspace.compare.delta import MAIN_METRICS

PRIMARY_PAIRS = (("div", "dp"), ("div", "wd"))
# table → (p-value column, family name) of its exploratory family
EXPLORATORY = {
    "omnibus": ("p_perm", "omnibus (exploratory)"),
    "dose_response": ("p", "dose–response (exploratory)"),
    "spectral_vs_accuracy": ("p", "spectral vs outcome (exploratory)"),
    "rotation_tests": ("p", "rotation (exploratory)"),
}


def holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN stays NaN, not counted)."""
    p = np.asarray(p, float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if not len(ok):
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (``scipy.stats.false_discovery_control``);
    NaN stays NaN and is not counted."""
    p = np.asarray(p, float)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    return out


def _assign(table: pd.DataFrame, mask: pd.Series, p_col: str, family: str, method) -> None:
    tested = mask & table[p_col].notna()
    table.loc[mask, "family"] = family
    table.loc[mask, "n_family"] = int(tested.sum())
    table.loc[tested, "p_adj"] = method(table.loc[tested, p_col].to_numpy(float))


def primary_mask(tests: pd.DataFrame) -> pd.Series:
    pairs = set(PRIMARY_PAIRS)
    return pd.Series(
        [
            (a, b) in pairs and m in MAIN_METRICS
            for a, b, m in zip(tests["a"], tests["b"], tests["metric"], strict=True)
        ],
        index=tests.index,
        dtype=bool,
    )


def adjust_tables(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Add ``family``, ``n_family`` and ``p_adj`` to every table of the default protocol
    that holds p-values (the fingerprint adjusts its own family when it is built)."""
    out = dict(tables)
    tests = tables.get("category_tests")
    if tests is not None:
        tests = tests.copy()
        for col in ("family", "n_family", "p_adj"):
            tests[col] = np.nan if col != "family" else ""
        primary = primary_mask(tests)
        _assign(tests, primary, "p", "primary: div vs dp, wd (Holm)", holm)
        _assign(tests, ~primary, "p", "category pairs (exploratory)", benjamini_hochberg)
        out["category_tests"] = tests
    for name, (p_col, family) in EXPLORATORY.items():
        table = tables.get(name)
        if table is None or p_col not in table.columns:
            continue
        table = table.copy()
        table["family"], table["n_family"], table["p_adj"] = "", np.nan, np.nan
        if len(table):
            _assign(table, pd.Series(True, index=table.index), p_col, family, benjamini_hochberg)
        out[name] = table
    return out
