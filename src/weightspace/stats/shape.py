"""The shape of a ΔΔ profile alone, whatever its size: is it more aligned (cosine) with one
reference profile than with another? Built on the noise model of :mod:`.profiles`.

:func:`shape_alignment` tests ``S = ⟨P, A⟩|B| − ⟨P, B⟩|A| = 0`` — S has the sign of
``cos(P, A) − cos(P, B)`` and does not depend on ``|P|`` — with every inner product and
squared norm debiased for its noise, a delta-method variance, the error of the metrics'
estimated scales (:func:`weightspace.stats.profiles.scale_covariance`) and a Fieller
interval of ``cos_a − cos_b``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from weightspace.stats.groups import t_p, t_quantile
from weightspace.stats.linear import F64, satterthwaite
from weightspace.stats.profiles import NAN, NoiseModel, fieller, scale_covariance


@dataclass(frozen=True)
class ShapePart:
    """One dataset's share of a shape comparison: the model, the contrasts (C,) of the
    profile compared (``p``) and of the two references (``a``, ``b``). For a category:
    its conditions (``members``, (k, C) contrasts against the baseline), whose spread
    replaces the noise of their own runs (``skip``, a boolean (N,) mask) in ``p``."""

    model: NoiseModel
    p: F64
    a: F64
    b: F64
    members: F64 | None = None
    skip: NDArray[np.bool_] | None = None
    scales: NDArray[np.int64] | None = None  # the cells' scale groups (as in AxisPart)


@dataclass(frozen=True)
class ShapeTest:
    """Debiased cosines of a profile with two references, their difference (``diff`` =
    cos_a − cos_b) with a Fieller interval, and the test of ``S = 0`` (equally aligned with
    both; ``t`` > 0: closer to ``a``)."""

    cos_a: float
    cos_b: float
    diff: float
    ci_low: float
    ci_high: float
    statistic: float
    t: float
    df: float
    p: float
    reason: str = ""


NO_REFERENCE = "a reference's profile is not separated from its noise: no shape to compare with"
NO_SHAPE = "its profile is not separated from its noise: its cosines have no interval"
NO_SHAPE_INTERVAL = "the profiles' sizes are not separated from their noise at this df"


def _gram(part: ShapePart) -> tuple[F64, F64, F64]:
    """(debiased Gram matrix (3, 3) of the profiles p, a, b; their run weights (3, N);
    the profiles (3, P)) of one dataset."""
    b = part.model.fit.weights(np.stack([part.p, part.a, part.b]))
    prof = b @ part.model.fit.y
    gram: F64 = prof @ prof.T - (b * part.model.run_traces()) @ b.T
    return gram, b, prof


def _member_inners(model: NoiseModel, members: F64, prof: F64, b: F64) -> F64:
    """Debiased ⟨P_j, P_k⟩ of each member j with the profiles p, a, b: (k, 3)."""
    b_m = model.fit.weights(np.atleast_2d(members))
    out: F64 = (b_m @ model.fit.y) @ prof.T - (b_m * model.run_traces()) @ b.T
    return out


_SPAN = 6.0  # a margin over the three profiles' span (the rank-one rest of the Hessian)


def _doubled_noise(model: NoiseModel, b: F64, grad_s: F64) -> F64:
    """What the plug-in variance of ``S`` counts twice, as (3,) coefficients of
    ``Var(S − d R)``: only the constant one (``Var S``, the test). ``R = |P||A||B|``'s
    second-order part grows as ``1/|P|`` where the profile is weak, where the expansion
    fails: its plug-in variance stays (the interval is conservative there, not liberal).

    The gradients are taken at the estimated profiles, so ``ĝᵀ Σ ĝ`` carries the noise ×
    noise part ``Σ_rs tr(H_rs Σ_s H_sr Σ_r)`` in expectation, twice what a quadratic form
    in Gaussian noise has (``½ tr((H Σ)²)``); with many cells and weak profiles that half
    is most of the variance. ``H``'s identity part per pair of profiles is the gradient's
    own coefficient matrix (``S`` and ``R`` are homogeneous in the profiles) and
    ``tr(Σ_r Σ_s) = t_r t_s / h`` with the noise shape's effective dimension ``h``. The
    rank-one rest of ``H`` lies in the span of the three profiles, and with strong
    profiles the identity part overstates what is counted twice: only the share
    ``1 − 6/h`` is removed, which keeps the test at its level from weak to strong profiles
    (docs/compare.md, *Shape alone*)."""
    h = max(model.h, 1.0)
    tau = np.outer(model.run_traces(), model.run_traces()) / h * max(0.0, 1.0 - _SPAN / h)
    m_s = b.T @ grad_s @ b  # (N, N)
    return np.array([0.5 * np.sum(m_s * m_s * tau), 0.0, 0.0])


def _shape_scale_error(part: ShapePart, prof: F64, b: F64, g: F64, n_a: float,
                       n_b: float) -> tuple[float, float]:  # fmt: skip
    """(Var, df) of what the error of the cells' estimated scales does to ``S`` (one
    dataset): an error ``ε_k`` of group k's log variance scales its share ``G_k`` of every
    debiased inner product by ``e^{−ε_k}`` (:func:`scale_covariance`); 0 without groups."""
    if part.scales is None or len(np.unique(part.scales)) < 2:
        return 0.0, math.inf
    codes = np.asarray(part.scales)
    fit = part.model.fit
    one_hot = np.eye(int(codes.max()) + 1)[codes]  # (P, K)
    cell_var = fit.cell_variance() @ one_hot  # (G, K)
    weights = np.zeros((fit.n_groups, 3, 3))
    np.add.at(weights, fit.group_of_run, b.T[:, :, None] * b.T[:, None, :])
    shares = np.einsum("ip,jp,pk->kij", prof, prof, one_hot)
    shares -= np.einsum("gij,gk->kij", weights, cell_var)  # (K, 3, 3) debiased per group
    grad = -(shares[:, 0, 1] * n_b + g[0, 1] * shares[:, 2, 2] / (2 * n_b)
             - shares[:, 0, 2] * n_a - g[0, 2] * shares[:, 1, 1] / (2 * n_a))  # fmt: skip
    cov, df = scale_covariance(part.model, codes)
    return float(grad @ cov @ grad), df


def shape_alignment(parts: Sequence[ShapePart], *, level: float = 0.95) -> ShapeTest:
    """Is the profile ``p`` more aligned (cosine) with reference ``a`` than with ``b``?

    ``S = ⟨P, A⟩|B| − ⟨P, B⟩|A|`` (inner products and squared norms debiased for their
    noise and summed over datasets) has the sign of ``cos(P, A) − cos(P, B)`` and does not
    depend on ``|P|``: under "equally aligned" (a profile of zero included) its mean is 0
    to first order. Its variance is the delta method's: each run's noise enters ``S``
    along a combination of the three estimated profiles, whose per-group covariance comes
    from the residuals projected on them, less the noise × noise part the plug-in counts
    twice (:func:`_doubled_noise`); for a category the spread of its conditions' own
    ``S`` replaces its runs' noise and the df is at most conditions − 1. The interval of
    ``cos_a − cos_b = S / (|P||A||B|)`` is Fieller's; it needs ``|P|`` separated from
    its noise, else NaN with a reason (the test stands)."""
    grams = [_gram(part) for part in parts]
    g = np.sum([gr for gr, _, _ in grams], axis=0)
    if not (g[1, 1] > 0 and g[2, 2] > 0):
        return ShapeTest(*(NAN,) * 9, reason=NO_REFERENCE)  # type: ignore[arg-type]
    n_a, n_b = math.sqrt(g[1, 1]), math.sqrt(g[2, 2])
    n_p = math.sqrt(g[0, 0]) if g[0, 0] > 0 else NAN
    stat = float(g[0, 1] * n_b - g[0, 2] * n_a)
    # row k: the gradient of S (of R = |P||A||B|) with respect to profile k, in the basis of
    # the three estimated profiles (p, a, b)
    grad_s = np.array([[0.0, n_b, -n_a], [n_b, -g[0, 2] / n_a, 0.0], [-n_a, 0.0, g[0, 1] / n_b]])
    has_shape = math.isfinite(n_p)
    grad_r = np.zeros((3, 3))
    if has_shape:
        grad_r = np.diag([n_a * n_b / n_p, n_p * n_b / n_a, n_p * n_a / n_b])
    poly, shares, dfs = np.zeros(3), [], []
    inner = None
    for part, (_, b, prof) in zip(parts, grams, strict=True):
        fit = part.model.fit
        if part.members is not None:
            mine = _member_inners(part.model, part.members, prof, b)
            inner = mine if inner is None else inner + mine
        scale_var, scale_df = _shape_scale_error(part, prof, b, g, n_a, n_b)
        if scale_var > 0:  # a constant part of Var S (the test); shares: for the df
            poly[0] += scale_var
            shares.append(scale_var)
            dfs.append(scale_df)
        if part.skip is not None:
            b = b.copy()
            b[0, part.skip] = 0.0
        cov = fit.projected_cov(prof.T)  # (G, 3, 3)
        u, w = b.T @ grad_s, b.T @ grad_r  # (N, 3): each run's direction in S and in R
        pieces = []
        for left, right, factor in ((u, u, 1.0), (u, w, -2.0), (w, w, 1.0)):
            outer = np.zeros((fit.n_groups, 3, 3))
            np.add.at(outer, fit.group_of_run, left[:, :, None] * right[:, None, :])
            pieces.append(factor * np.einsum("gij,gij->g", cov, outer))
        run_part = np.stack(pieces).sum(1) - _doubled_noise(part.model, b, grad_s)
        run_part[0], run_part[2] = max(run_part[0], 0.0), max(run_part[2], 0.0)
        bound = 2.0 * math.sqrt(run_part[0] * run_part[2])  # keep Var(S − d R) ≥ 0
        run_part[1] = float(np.clip(run_part[1], -bound, bound))
        poly += run_part
        scale = np.maximum(np.trace(cov, axis1=1, axis2=2), 1e-300)
        shares.append(float(run_part[0]))
        dfs.append(fit.combination_df(pieces[0] / scale, scale))
    spread_df = math.inf
    if inner is not None and len(inner) > 1:  # the category's conditions: a sample
        own_s, own_r = inner @ grad_s[0], inner @ grad_r[0]  # each condition's part
        k = len(inner)
        cross = float(np.cov(own_s, own_r, ddof=1)[0, 1])
        poly += np.array([np.var(own_s, ddof=1), -2.0 * cross, np.var(own_r, ddof=1)]) / k
        shares.append(float(np.var(own_s, ddof=1)) / k)
        spread_df = float(k - 1)
        dfs.append(spread_df)
    df = min(satterthwaite(shares, dfs), spread_df, 1e6)
    t = stat / math.sqrt(poly[0]) if poly[0] > 0 else NAN
    if not has_shape:
        return ShapeTest(NAN, NAN, NAN, NAN, NAN, stat, t, df, t_p(t, df), NO_SHAPE)
    r = n_p * n_a * n_b
    low, high, reason = fieller(stat, r, poly, t_quantile(df, level), NO_SHAPE_INTERVAL)
    cos_a, cos_b = (float(np.clip(g[0, k] / (n_p * n), -1, 1)) for k, n in ((1, n_a), (2, n_b)))
    diff = float(np.clip(stat / r, -2, 2))
    low, high = (float(np.clip(v, -2, 2)) if math.isfinite(v) else NAN for v in (low, high))
    return ShapeTest(cos_a, cos_b, diff, low, high, stat, t, df, t_p(t, df), reason)
