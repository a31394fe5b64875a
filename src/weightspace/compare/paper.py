"""The authors' protocol, step by step, with layers as samples.

As in the analysis the authors published with their tables (repository
``YangBa78/Data-Diversity-as-Implicit-Regularization``); ``tests/test_compare_paper.py``
checks that it reproduces their published numbers from the tables shipped under
``tests/data/paper-tables/``.

1. Δ after − before, rows aligned by position, frozen layers dropped (:func:`delta_table`);
2. ΔΔ against ``bs`` matched on ``layer_id`` (:func:`delta_delta`);
3. mean ΔΔ per (layer, category); several datasets are pooled by layer *name*: the
   per-(dataset, layer, category) means are averaged over datasets;
4. one-way ANOVA over the categories and pairwise equal-variance t-tests, the layers being
   the samples; Pearson correlation of the layer profiles between categories; the
   classifier (last) layer on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from weightspace.compare.categories import BASELINE
from weightspace.compare.delta import delta_delta, delta_table, resolve_metrics
from weightspace.errors import DataError


def layer_key(dd: pd.DataFrame) -> str:
    """``layer_id`` for one dataset; ``longname`` (the layer name) to pool several, because
    layer ids differ between datasets (e.g. the classifier's)."""
    return "layer_id" if dd["dataset"].nunique() == 1 else "longname"


def layer_profiles(dd: pd.DataFrame, metrics: Sequence[str], key: str) -> pd.DataFrame:
    """Mean ΔΔ per (layer, category): over conditions and seeds within a dataset, then over
    datasets. ``order`` is the layer's mean position in the network (for plotting)."""
    metrics = list(metrics)
    per_dataset = dd.groupby(["dataset", key, "category"], sort=False)[metrics].mean()
    prof = per_dataset.groupby(level=[key, "category"], sort=False).mean().reset_index()
    order = dd.groupby(key)["layer_id"].mean().rank(method="dense").rename("order")
    names = dd.groupby(key)[["longname" if key != "longname" else "layer_id"]].first()
    prof = prof.merge(order, left_on=key, right_index=True).merge(
        names, left_on=key, right_index=True
    )
    prof["n_datasets"] = prof[key].map(dd.groupby(key)["dataset"].nunique())
    front = [key, "longname" if key != "longname" else "layer_id", "order", "category"]
    prof = prof[[*front, *metrics, "n_datasets"]]
    return prof.sort_values(["order", "category"]).reset_index(drop=True)


def _samples(profiles: pd.DataFrame, metric: str, categories: list[str]) -> dict[str, np.ndarray]:
    return {
        c: profiles.loc[profiles["category"] == c, metric].dropna().to_numpy() for c in categories
    }


def category_means(profiles: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Mean, SD and SEM of the layer profile over layers, per metric and category."""
    rows = []
    for metric in metrics:
        for category, group in profiles.groupby("category", sort=True):
            values = group[metric].dropna().to_numpy()
            n = len(values)
            sd = float(np.std(values, ddof=1)) if n > 1 else float("nan")
            rows.append(
                {
                    "metric": metric,
                    "category": category,
                    "mean": float(np.mean(values)) if n else float("nan"),
                    "sd": sd,
                    "sem": sd / np.sqrt(n) if n > 1 else float("nan"),
                    "n_layers": n,
                }
            )
    return pd.DataFrame(rows)


def anova_table(profiles: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """One-way ANOVA (scipy ``f_oneway``) over categories, layers as samples."""
    categories = sorted(profiles["category"].unique())
    rows = []
    for metric in metrics:
        samples = _samples(profiles, metric, categories)
        usable = [s for s in samples.values() if len(s) >= 2]
        f, p = stats.f_oneway(*usable) if len(usable) >= 2 else (np.nan, np.nan)
        n = sum(len(s) for s in usable)
        rows.append(
            {
                "metric": metric,
                "F": float(f),
                "p": float(p),
                "df_between": len(usable) - 1,
                "df_within": n - len(usable),
                "categories": ",".join(categories),
            }
        )
    return pd.DataFrame(rows)


def ttest_table(profiles: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Pairwise two-sample t-tests with equal variances, layers as samples."""
    categories = sorted(profiles["category"].unique())
    rows = []
    for metric in metrics:
        samples = _samples(profiles, metric, categories)
        for a, b in combinations(categories, 2):
            x, y = samples[a], samples[b]
            ok = len(x) >= 2 and len(y) >= 2
            res = stats.ttest_ind(x, y, equal_var=True) if ok else None
            rows.append(
                {
                    "metric": metric,
                    "a": a,
                    "b": b,
                    "t": float(res.statistic) if res else float("nan"),
                    "p": float(res.pvalue) if res else float("nan"),
                    "df": len(x) + len(y) - 2,
                    "mean_a": float(np.mean(x)) if len(x) else float("nan"),
                    "mean_b": float(np.mean(y)) if len(y) else float("nan"),
                }
            )
    return pd.DataFrame(rows, columns=["metric", "a", "b", "t", "p", "df", "mean_a", "mean_b"])


def correlation_table(profiles: pd.DataFrame, metrics: Sequence[str], key: str) -> pd.DataFrame:
    """Pearson correlation between the layer profiles of two categories (common layers)."""
    rows = []
    for metric in metrics:
        wide = profiles.pivot_table(index=key, columns="category", values=metric)
        for a, b in combinations(sorted(wide.columns), 2):
            pair = wide[[a, b]].dropna()
            ok = len(pair) >= 3 and pair[a].std() > 0 and pair[b].std() > 0
            r, p = stats.pearsonr(pair[a], pair[b]) if ok else (np.nan, np.nan)
            rows.append(
                {
                    "metric": metric,
                    "a": a,
                    "b": b,
                    "r": float(r),
                    "p": float(p),
                    "n_layers": len(pair),
                }
            )
    return pd.DataFrame(rows, columns=["metric", "a", "b", "r", "p", "n_layers"])


def classifier_rows(dd: pd.DataFrame) -> pd.DataFrame:
    """ΔΔ rows of the classifier: the layer with the highest ``layer_id`` in each dataset."""
    last = dd.groupby("dataset")["layer_id"].transform("max")
    return dd[dd["layer_id"] == last]


def classifier_table(dd: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """The classifier layer on its own: mean ΔΔ per category (conditions as the samples,
    averaged over seeds and datasets) and the per-condition values."""
    rows = classifier_rows(dd)
    per_cond = rows.groupby(["dataset", "condition", "category"])[list(metrics)].mean()
    per_cond = per_cond.groupby(level=["condition", "category"]).mean().reset_index()
    out = []
    for metric in metrics:
        for category, group in per_cond.groupby("category"):
            values = group[metric].dropna()
            out.append(
                {
                    "metric": metric,
                    "category": category,
                    "mean": float(values.mean()),
                    "sd": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
                    "n_conditions": len(values),
                    "layer": ",".join(sorted(set(rows["longname"].astype(str)))),
                }
            )
    return pd.DataFrame(out)


def require_conditions(dd: pd.DataFrame, baseline: str) -> None:
    """A comparison needs at least one condition besides the baseline."""
    if dd.empty:
        raise DataError(
            f"nothing to compare: no condition other than the baseline {baseline!r} has layers "
            "matching the baseline's (check the condition names and that the runs finished)"
        )


def paper_tables(
    layers: pd.DataFrame, *, metrics: Sequence[str] | None = None, baseline: str = BASELINE
) -> dict[str, pd.DataFrame]:
    """Every table of the paper protocol from a long layer table (see :func:`load_layers`)."""
    metrics = resolve_metrics(layers, metrics)
    delta = delta_table(layers, metrics=metrics, align="position", drop_frozen=True)
    dd = delta_delta(delta, baseline=baseline, key="layer_id", match_seed=True)
    require_conditions(dd, baseline)
    key = layer_key(dd)
    profiles = layer_profiles(dd, metrics, key)
    per_cond = classifier_rows(dd)[["dataset", "condition", "category", "seed", *metrics]]
    return {
        "delta_delta": dd,
        "category_means": category_means(profiles, metrics),
        "layer_profiles": profiles,
        "anova": anova_table(profiles, metrics),
        "ttests": ttest_table(profiles, metrics),
        "correlations": correlation_table(profiles, metrics, key),
        "classifier": classifier_table(dd, metrics),
        "classifier_conditions": per_cond.reset_index(drop=True),
    }
