"""Test families of the default protocol: a pre-specified primary family (Holm) and
exploratory ones (BH); the adjustments themselves are :mod:`weightspace.stats.multiplicity`.

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

from weightspace.compare.delta import MAIN_METRICS
from weightspace.stats.multiplicity import benjamini_hochberg, holm

PRIMARY_PAIRS = (("div", "dp"), ("div", "wd"))
# table → (p-value column, family name) of its exploratory family
EXPLORATORY = {
    "omnibus": ("p_perm", "omnibus (exploratory)"),
    "dose_response": ("p", "dose–response (exploratory)"),
    "spectral_vs_accuracy": ("p", "spectral vs outcome (exploratory)"),
    "rotation_tests": ("p", "rotation (exploratory)"),
}


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


FAMILY_COLUMNS = ["table", "family", "n_tests", "n_rejected", "mean_power"]


def family_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every test family of the tables: its size, how many tests it rejects (adjusted
    p < 0.05), and the mean power of its tests at this study's effect sizes where the
    ``power`` table has them. A family whose tests sit in several tables (the headline:
    ``fingerprint`` and ``axis_shape``) is one row, its tables listed."""
    power = tables.get("power")
    merged: dict[str, tuple[list[str], list[float]]] = {}
    for name, table in tables.items():
        if name == "power" or table is None or "family" not in table.columns or table.empty:
            continue
        for family, group in table.groupby(table["family"].fillna("").astype(str), sort=False):
            if not family:
                continue
            adj = [c for c in ("p_adj", "p_moved_adj", "p_axis_adj") if c in group.columns]
            values = group[adj].to_numpy(float).ravel()
            names, found = merged.setdefault(family, ([], []))
            names.append(name)
            found.extend(values[np.isfinite(values)].tolist())
    rows = [{"table": ", ".join(names), "family": family, "n_tests": len(values),
             "n_rejected": int((np.array(values) < 0.05).sum()),
             "mean_power": _mean_power(power, family)}
            for family, (names, values) in merged.items()]  # fmt: skip
    return pd.DataFrame(rows, columns=FAMILY_COLUMNS)


def family_key(family: str) -> str:
    """The short name of a family (``"headline (Holm)"`` → ``"headline"``,
    ``"fingerprint: conditions (BH)"`` → ``"conditions"``), as the power table uses it."""
    key = family.split(" (")[0].removeprefix("fingerprint: ")
    return "primary" if key.startswith("primary") else key


def _mean_power(power: pd.DataFrame | None, family: str) -> float:
    if power is None or power.empty:
        return float("nan")
    rows = power[power["family"] == family_key(family)]
    return float(rows["power"].mean()) if len(rows) else float("nan")
