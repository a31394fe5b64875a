"""Category comparisons with conditions as the units: pairwise tests and the omnibus F."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from weightspace.stats.groups import two_group_test
from weightspace.stats.permutation import permutation_anova

TEST_COLUMNS = ["metric", "a", "b", "diff", "diff_ci_low", "diff_ci_high", "t", "df", "g",
                "g_ci_low", "g_ci_high", "p_perm", "p_welch", "p", "exact", "min_p", "n_a",
                "n_b"]  # fmt: skip


def category_tests(
    scores: pd.DataFrame,
    metrics: Sequence[str],
    *,
    rng: np.random.Generator,
    n_perm: int,
    effect_size: bool = True,
    pairs: Sequence[tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """Pairwise category differences of condition scores: ``p`` = the larger of the
    Welch-studentized permutation p (whole conditions relabelled) and Welch's t-test p,
    Welch t-interval of the difference, Hedges' g with its noncentral-t interval. The
    condition scores come from the seed-matched model, in which the shared baseline
    cancels from any difference between conditions (also with unbalanced seeds).
    ``pairs``: only these (a, b) category pairs (default every pair)."""
    rows = []
    categories = sorted(scores["category"].unique())
    wanted = list(combinations(categories, 2)) if pairs is None else [
        (a, b) for a, b in pairs if a in categories and b in categories]  # fmt: skip
    for metric in metrics:
        for a, b in wanted:
            xa = scores.loc[scores["category"] == a, metric].dropna().to_numpy()
            xb = scores.loc[scores["category"] == b, metric].dropna().to_numpy()
            test = two_group_test(xa, xb, rng=rng, n_perm=n_perm, effect_size=effect_size)
            rows.append(
                {"metric": metric, "a": a, "b": b, "diff": test.diff,
                 "diff_ci_low": test.diff_ci[0], "diff_ci_high": test.diff_ci[1], "t": test.t,
                 "df": test.df, "g": test.g, "g_ci_low": test.g_ci[0], "g_ci_high": test.g_ci[1],
                 "p_perm": test.p_perm, "p_welch": test.p_welch, "p": test.p, "exact": test.exact,
                 "min_p": test.min_p, "n_a": test.n_a, "n_b": test.n_b}
            )  # fmt: skip
    return pd.DataFrame(rows, columns=TEST_COLUMNS)


def omnibus_table(
    scores: pd.DataFrame, metrics: Sequence[str], *, rng: np.random.Generator, n_perm: int
) -> pd.DataFrame:
    """One-way F over categories with conditions as the samples, permutation p-value."""
    rows = []
    for metric in metrics:
        ok = scores[metric].notna()
        f, p = permutation_anova(
            scores.loc[ok, metric].to_numpy(),
            scores.loc[ok, "category"].to_numpy(),
            rng=rng,
            n_perm=n_perm,
        )
        rows.append(
            {
                "metric": metric,
                "F": f,
                "p_perm": p,
                "n_conditions": int(ok.sum()),
                "categories": ",".join(sorted(scores.loc[ok, "category"].unique())),
            }
        )
    return pd.DataFrame(rows)
