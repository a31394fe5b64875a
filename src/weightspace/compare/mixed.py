"""A linear mixed model — a cross-check of the permutation tests, not a primary test.

Model, per metric, on the seed-averaged ΔΔ of every (condition, layer)::

    ΔΔ[c, l] / sd = layer effect[l] + category effect[cat(c)] + u[c] + ε[c, l],  u[c] ~ N(0, τ²)

The layer effects are fixed (removed by centring each layer — exactly equivalent when every
condition covers every layer), so the layer structure cannot masquerade as a category
difference; the random intercept per condition carries the dependence between the layers
of one run, so the category effect is judged against condition-to-condition variation
rather than against thousands of "independent" layer values. ΔΔ is divided by its SD so that
coefficients are standardized effects. Fitted with statsmodels ``MixedLM`` (REML). p-values
use Student's t with conditions − categories degrees of freedom (Satterthwaite's for this
between-condition contrast when the design is balanced) rather than the Wald z, which is
anti-conservative with ~20 condition clusters.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

log = logging.getLogger(__name__)

COLUMNS = [
    "metric",
    "term",
    "reference",
    "coef",
    "se",
    "t",
    "df",
    "p",
    "tau",
    "converged",
    "method",
    "reason",
]


def _fit_one(data: pd.DataFrame, metric: str, key: str) -> list[dict[str, object]]:
    try:
        import statsmodels.formula.api as smf
    except ImportError:
        return [
            {
                "metric": metric,
                "reason": "statsmodels not installed (pip install weightspace[stats])",
            }
        ]

    frame = data[["dataset", "condition", "category", key, metric]].dropna()
    categories = sorted(frame["category"].unique())
    base = {"metric": metric, "reference": categories[0] if categories else ""}
    n_units = frame.groupby("category")["condition"].nunique()
    if len(categories) < 2 or (n_units < 2).all():
        return [base | {"term": "", "reason": "needs ≥ 2 categories and replicated conditions"}]
    cell = frame["dataset"].astype(str) + "|" + frame[key].astype(str)
    centred = frame[metric] - frame.groupby(cell)[metric].transform("mean")
    sd = float(centred.std())
    if not sd > 0:
        return [base | {"term": "", "reason": "no variation left after removing layer effects"}]
    model_data = pd.DataFrame(
        {
            "y": centred / sd,
            "category": frame["category"].astype(str),
            "unit": frame["dataset"].astype(str) + "|" + frame["condition"].astype(str),
        }
    )
    model = smf.mixedlm("y ~ C(category)", model_data, groups=model_data["unit"])
    fit, caught, errors = None, [], []
    # Derivative-free optimisers: near the τ² = 0 boundary (common here) statsmodels' default
    # L-BFGS returns all-zero coefficients with SEs ~1e7 while reporting convergence.
    for method in ("nm", "powell"):
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                candidate = model.fit(reml=True, method=method, maxiter=5000)
        except (np.linalg.LinAlgError, ValueError) as err:
            errors.append(f"{method}: {err}")
            continue
        bse = np.asarray(candidate.bse_fe, float)  # the τ² SE is NaN at the boundary
        if candidate.converged and np.all(np.isfinite(bse)) and bse.max() < 1e3:
            fit = candidate
            break
        errors.append(f"{method}: did not converge")
    if fit is None:
        return [base | {"term": "", "reason": "fit failed: " + "; ".join(errors)}]
    reason = "; ".join(sorted({str(w.message).split("\n")[0] for w in caught}))[:200]
    tau = float(np.sqrt(max(float(fit.cov_re.iloc[0, 0]), 0.0)))
    # Category is constant within a condition, so its effect is judged against the
    # condition-to-condition variation: df = conditions − categories (the Satterthwaite df
    # of a between-unit contrast in a balanced random-intercept model), not a Wald z.
    df = float(model_data["unit"].nunique() - len(categories))
    rows = []
    for name in fit.params.index:
        if not name.startswith("C(category)"):
            continue
        rows.append(
            base
            | {
                "term": name.split("[T.")[-1].rstrip("]"),
                "coef": float(fit.params[name]),
                "se": float(fit.bse[name]),
                "t": float(fit.tvalues[name]),
                "df": df,
                "p": float(2 * stats.t.sf(abs(float(fit.tvalues[name])), df)) if df > 0 else np.nan,
                "tau": tau,
                "converged": bool(fit.converged),
                "method": method,
                "reason": reason,
            }
        )
    return rows


def mixed_model_table(cond_layers: pd.DataFrame, metrics: Sequence[str], key: str) -> pd.DataFrame:
    """Category effects (vs the alphabetically first category) per metric; NaN + reason when
    the model cannot be fitted."""
    rows = [row for metric in metrics for row in _fit_one(cond_layers, metric, key)]
    return pd.DataFrame(rows).reindex(columns=COLUMNS)
