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

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

NAN = float("nan")


@dataclass(frozen=True)
class MixedTerm:
    """One category's effect against the reference category (the first in sort order), or
    a row that says why the model could not be fitted (``term`` empty, ``reason`` set)."""

    term: str
    reference: str
    coef: float = NAN
    se: float = NAN
    t: float = NAN
    df: float = NAN
    p: float = NAN
    tau: float = NAN
    converged: bool = False
    method: str = ""
    reason: str = ""


def mixed_model(
    y: np.ndarray, cell: np.ndarray, unit: np.ndarray, category: np.ndarray
) -> list[MixedTerm]:
    """Fit the model of the module docstring: ``y`` (seed-averaged ΔΔ per condition ×
    layer), ``cell`` the layer (per dataset) each value belongs to, ``unit`` its condition,
    ``category`` its condition's category (all arrays of one length; NaN values dropped)."""
    try:
        import statsmodels.api as sm
    except ImportError:
        return [
            MixedTerm("", "", reason="statsmodels not installed (pip install weightspace[stats])")
        ]

    y = np.asarray(y, dtype=float)
    ok = np.isfinite(y)
    y, cell, unit, category = (
        y[ok],
        np.asarray(cell)[ok],
        np.asarray(unit)[ok],
        np.asarray(category)[ok],
    )
    categories = sorted({str(c) for c in category})
    reference = categories[0] if categories else ""
    units_per = {
        c: len({u for u, k in zip(unit, category, strict=True) if str(k) == c}) for c in categories
    }
    if len(categories) < 2 or all(n < 2 for n in units_per.values()):
        return [MixedTerm("", reference, reason="needs ≥ 2 categories and replicated conditions")]
    _, cell_codes = np.unique(cell.astype(str), return_inverse=True)
    means = np.bincount(cell_codes, weights=y) / np.bincount(cell_codes)
    centred = y - means[cell_codes]
    sd = float(np.std(centred, ddof=1))
    if not sd > 0:
        return [MixedTerm("", reference, reason="no variation left after removing layer effects")]
    names = [str(c) for c in category]
    exog = np.column_stack([np.ones(len(y))] + [np.array([n == c for n in names], float)
                                               for c in categories[1:]])  # fmt: skip
    model = sm.MixedLM(centred / sd, exog, groups=np.asarray(unit).astype(str))
    fit, caught, errors, method = None, [], [], ""
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
        return [MixedTerm("", reference, reason="fit failed: " + "; ".join(errors))]
    reason = "; ".join(sorted({str(w.message).split("\n")[0] for w in caught}))[:200]
    tau = float(np.sqrt(max(float(np.asarray(fit.cov_re)[0, 0]), 0.0)))
    # Category is constant within a condition, so its effect is judged against the
    # condition-to-condition variation: df = conditions − categories (the Satterthwaite df
    # of a between-unit contrast in a balanced random-intercept model), not a Wald z.
    df = float(len(set(np.asarray(unit).astype(str))) - len(categories))
    params, bse_all = np.asarray(fit.fe_params, float), np.asarray(fit.bse_fe, float)
    out = []
    for j, name in enumerate(categories[1:], start=1):
        t = params[j] / bse_all[j]
        out.append(MixedTerm(name, reference, float(params[j]), float(bse_all[j]), float(t), df,
                             float(2 * stats.t.sf(abs(t), df)) if df > 0 else NAN, tau,
                             bool(fit.converged), method, reason))  # fmt: skip
    return out
