"""Tests on whole ΔΔ profiles (many layers × metrics at once) built on :mod:`.linear`.

:func:`omnibus` — did a set of conditions move the profile at all? ``T = Σ |L_j|²`` over
contrasts ``L_j`` (e.g. each condition minus the baseline). Under "no change" ``T`` is a
quadratic form in Gaussian noise with covariance ``κ ⊗ C`` (``κ`` from the design and the
group variances, ``C`` the shared shape), approximated by a scaled χ² with
``h_T = h (tr κ)² / ‖κ‖²_F`` degrees of freedom (Satterthwaite/Box); ``E[T]`` is estimated
from the residuals, so ``T / Ê`` is referred to ``F(h_T, df_E)``.

:func:`axis_position` — where a profile ``A`` (a condition minus the dropout centroid) lies
along the axis ``V`` (weight-decay centroid minus dropout centroid): ``θ = ⟨A, V⟩ / |V|²``,
0 at dropout's profile, 1 at weight decay's. Both inner products are debiased by their
noise (``E⟨A, V⟩ = ⟨α, ν⟩ + tr Σ_AV``). The interval is Fieller's: the set of θ₀ whose
``Z(θ₀) = N − θ₀ D`` is within ``t · sd(Z(θ₀))``, where the variance of ``Z`` has a
first-order part (noise of ``A`` along ``ν``, of ``V`` along ``α − 2θ₀ν``; from the
residuals projected on the estimated directions, which also carries the noise × noise part
in expectation) and, when the cells' scales were estimated per metric (``AxisPart.scales``),
what the error of those scales does to θ (:func:`scale_covariance`). An unbounded Fieller set means the references are not
separated from their own noise: the axis is undetermined and θ gets no interval. The test
of θ = ½ (equally close to both references) is ``Z(½)`` against its SD; there the shared
baseline cancels exactly, because every profile subtracts the same baseline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

from weightspace.stats.groups import t_p, t_quantile
from weightspace.stats.linear import F64, LinearFit, effective_dimension, satterthwaite

NAN = math.nan


@dataclass(frozen=True)
class NoiseModel:
    """A fit with its per-group noise traces ``tr Σ_g`` and the shape's dimension ``h``."""

    fit: LinearFit
    traces: F64
    h: float

    @classmethod
    def of(cls, fit: LinearFit) -> NoiseModel:
        traces = fit.cell_variance().sum(1)
        return cls(fit, traces, effective_dimension(fit, traces))

    def run_traces(self) -> F64:
        out: F64 = self.traces[self.fit.group_of_run]
        return out


@dataclass(frozen=True)
class Omnibus:
    """``T = Σ|L|²``, its expectation without any change, their signal-to-noise
    ``(T − E)/E`` (descriptive), the scaled-χ² degrees of freedom and the p-value."""

    statistic: float
    expected: float
    signal: float
    df1: float
    df2: float
    p: float


def omnibus(parts: Sequence[tuple[NoiseModel, F64]]) -> Omnibus:
    """Test that every contrast (rows of each part's (k, C) array, per dataset) is zero."""
    total = expected = var = 0.0
    inv_df = 0.0  # Σ over datasets of (part of E)² / its df
    for model, contrasts in parts:
        b = model.fit.weights(np.atleast_2d(contrasts))  # (k, N)
        lhs = b @ model.fit.y  # (k, P)
        total += float((lhs**2).sum())
        kappa = (b * model.run_traces()) @ b.T  # (k, k), in units of the shape
        expected += float(np.trace(kappa))
        var += 2.0 * float((kappa**2).sum()) / model.h
        weights = np.bincount(model.fit.group_of_run, weights=(b**2).sum(0),
                              minlength=model.fit.n_groups).astype(float)  # fmt: skip
        part = float(weights @ model.traces)
        df_part = model.fit.combination_df(weights, model.traces, model.h)
        inv_df += part**2 / df_part if df_part > 0 else 0.0
    if not (expected > 0 and var > 0):
        return Omnibus(total, expected, NAN, NAN, NAN, NAN)
    df1 = 2.0 * expected**2 / var
    df2 = expected**2 / inv_df if inv_df > 0 else math.inf
    ratio = total / expected
    p = (
        float(special.fdtrc(df1, df2, ratio))
        if math.isfinite(df2)
        else float(special.chdtrc(df1, ratio * df1))
    )
    return Omnibus(total, expected, (total - expected) / expected, df1, df2, p)


@dataclass(frozen=True)
class AxisPart:
    """One dataset's share of an axis position: the model, the contrast ``a`` (C,) whose
    profile is placed, the axis contrast ``v`` (C,), optionally runs whose noise in
    ``a`` is accounted for elsewhere (``skip``, a boolean (N,) mask: a category's own runs
    when its spread between conditions is added as ``extra``), and optionally the cells'
    scale groups (``scales``, (P,) integer codes: the cells each divided by one scale
    estimated from these residuals, e.g. a metric's noise SD)."""

    model: NoiseModel
    a: F64
    v: F64
    skip: NDArray[np.bool_] | None = None
    scales: NDArray[np.int64] | None = None


@dataclass(frozen=True)
class AxisPosition:
    """θ on the dropout (0) → weight decay (1) axis with its Fieller interval, and the
    test of θ = ½ (``t_mid`` < 0: closer to dropout)."""

    theta: float
    ci_low: float
    ci_high: float
    t_mid: float
    df: float
    p_mid: float
    numerator: float
    denominator: float
    reason: str = ""


@dataclass(frozen=True)
class _Terms:
    """One dataset's share of an axis position: debiased ⟨A, V⟩ and |V|², and the
    per-group first-order variance of Z(θ) as (3, G) polynomial coefficients in θ."""

    num: float
    den: float
    pieces: F64  # (3, G): Var Z(θ) per group = pieces[0] + θ pieces[1] + θ² pieces[2]
    scale: F64  # (G,) each group's noise variance along the axis (for the df)
    fit: LinearFit
    by_scale: F64  # (2, S): debiased ⟨A, V⟩ and |V|² of each scale group's cells
    scale_cov: F64  # (S, S) covariance of the scale groups' log variance estimates
    scale_df: float


def _terms(part: AxisPart) -> _Terms:
    fit, model = part.model.fit, part.model
    b_a, b_v = fit.weights(part.a), fit.weights(part.v)
    a_hat, v_hat = b_a @ fit.y, b_v @ fit.y
    t_run = model.run_traces()
    num = float(a_hat @ v_hat) - float(np.sum(b_a * b_v * t_run))
    den = float(v_hat @ v_hat) - float(np.sum(b_v * b_v * t_run))
    b_a = np.where(part.skip, 0.0, b_a) if part.skip is not None else b_a
    # First order: a run's noise enters along (b_a − 2θ b_v) ν + b_v α. The noise × noise
    # part needs no term of its own: the directions are plug-in estimates, and
    # E[α̂ᵀ Σ α̂] = αᵀ Σ α + tr(Σ Σ_α) already adds it (in expectation).
    cov = fit.projected_cov(np.stack([v_hat, a_hat], 1))  # (G, 2, 2), basis (ν, α)
    u = np.stack([b_a, b_v], 1)  # (N, 2): the θ⁰ part of the coefficients
    w = np.stack([-2.0 * b_v, np.zeros_like(b_v)], 1)  # the θ¹ part
    pieces = []
    for left, right, factor in ((u, u, 1.0), (u, w, 2.0), (w, w, 1.0)):
        outer = np.zeros((fit.n_groups, 2, 2))
        np.add.at(outer, fit.group_of_run, left[:, :, None] * right[:, None, :])
        pieces.append(factor * np.einsum("gij,gij->g", cov, outer))
    scale = np.maximum(cov[:, 0, 0] + cov[:, 1, 1], 1e-300)
    by_scale, scale_cov, scale_df = np.zeros((2, 1)), np.zeros((1, 1)), math.inf
    if part.scales is not None and len(np.unique(part.scales)) > 1:
        codes = np.asarray(part.scales)
        n_scales = int(codes.max()) + 1
        cell_var = fit.cell_variance()  # (G, P)
        cells = np.stack([a_hat * v_hat - fit.group_sums(b_a, b_v) @ cell_var,
                          v_hat * v_hat - fit.group_sums(b_v, b_v) @ cell_var])  # fmt: skip
        by_scale = np.stack([np.bincount(codes, row, n_scales) for row in cells])
        scale_cov, scale_df = scale_covariance(part.model, codes)
    return _Terms(num, den, np.stack(pieces), scale, fit, by_scale, scale_cov, scale_df)


def scale_covariance(model: NoiseModel, codes: NDArray[np.int64]) -> tuple[F64, float]:
    """The covariance of ``log ŝ²_k`` — each scale group's pooled residual variance per
    cell, by which its cells were divided (:mod:`weightspace.compare.estimates`) — and its
    effective df, from the residuals (Wishart moments, heteroscedastic runs).

    Dividing cells by estimated scales weighs them in every inner product: an error ``ε_k``
    in ``log ŝ²_k`` changes ``Z(θ)`` by ``−ε_k Z_k(θ)`` (``Z_k``: the group's share). It is
    independent of the means (residuals and fitted means are), and invisible where the
    signal is weak; but a profile far from the noise with a large part off the axis has
    large ``Z_k`` of opposite signs, and its θ moves with the weights by many of its SEs."""
    fit = model.fit
    tau = model.run_traces() / fit.y.shape[1]  # each run's noise variance per cell
    mt = fit.maker * tau[None, :]
    tr1, tr2 = float(np.trace(mt)), float(np.sum(mt * mt.T))
    one_hot = np.eye(int(codes.max()) + 1)[codes]  # (P, S)
    if not (tr1 > 0 and tr2 > 0 and fit.residual_df >= 1):  # no residual: nothing known
        return np.zeros((one_hot.shape[1],) * 2), math.inf
    df = tr1**2 / tr2
    gamma = fit.residuals.T @ fit.residuals / tr1  # (P, P) the cells' noise covariance
    blocks = one_hot.T @ (gamma * gamma) @ one_hot  # Σ over cell pairs of Γ̂²
    diag = one_hot.T @ np.diag(gamma)  # (S,)
    if not (diag > 0).all():
        return np.zeros_like(blocks), math.inf
    # E Γ̂²_cd = Γ²_cd + (Γ²_cd + Γ_cc Γ_dd) / df
    blocks = (blocks - np.outer(diag, diag) / df) / (1.0 + 1.0 / df)
    cov = 2.0 * blocks / (df * np.outer(diag, diag))
    vals, vecs = np.linalg.eigh(cov)
    out: F64 = (vecs * np.maximum(vals, 0.0)) @ vecs.T
    return out, df


def axis_position(
    parts: Sequence[AxisPart], *, extra: tuple[float, float] | None = None, level: float = 0.95
) -> AxisPosition:
    """θ of ``a`` on the axis ``v`` summed over datasets (module docstring). ``extra``:
    (variance, df) added to Var Z — a category's spread between its conditions."""
    terms = [_terms(part) for part in parts]
    num = sum(t.num for t in terms)
    den = sum(t.den for t in terms)
    poly = np.sum([t.pieces.sum(1) for t in terms], axis=0)
    if extra is not None:
        poly = poly + np.array([extra[0], 0.0, 0.0])
    if not den > 0:
        return AxisPosition(NAN, NAN, NAN, NAN, NAN, NAN, num, den,
                            "the references' profiles do not differ beyond their noise")  # fmt: skip
    theta = num / den
    coeffs = np.array([1.0, theta, theta**2])
    shares, dfs = [], []
    for t in terms:  # degrees of freedom of Var Z at θ̂, dataset by dataset
        per_group = coeffs @ t.pieces
        shares.append(float(per_group.sum()))
        dfs.append(t.fit.combination_df(per_group / t.scale, t.scale))
        # the scales' error moves θ̂ = N/D by −Σ ε_k (N_k − θ̂ D_k) / D (the delta method;
        # a common error of every scale cancels): the same in Var Z at every θ₀
        z = t.by_scale[0] - theta * t.by_scale[1]
        scale_var = float(z @ t.scale_cov @ z)
        if scale_var > 0:
            poly = poly + np.array([scale_var, 0.0, 0.0])
            shares.append(scale_var)
            dfs.append(t.scale_df)
    if extra is not None:
        shares.append(extra[0])
        dfs.append(extra[1])
    df = min(satterthwaite(shares, dfs), 1e6)
    if extra is not None:  # as for other means over units: the smaller df (conservative)
        df = min(df, extra[1])
    var_mid = float(poly @ np.array([1.0, 0.5, 0.25]))
    z_mid = num - 0.5 * den
    t_mid = z_mid / math.sqrt(var_mid) if var_mid > 0 else NAN
    low, high, reason = fieller(num, den, poly, t_quantile(df, level))
    return AxisPosition(theta, low, high, t_mid, df, t_p(t_mid, df), num, den, reason)


def debiased_inner(model: NoiseModel, a: F64, v: F64) -> float:
    """⟨A, V⟩ minus its noise expectation (one dataset)."""
    b_a, b_v = model.fit.weights(a), model.fit.weights(v)
    bias = float(np.sum(b_a * b_v * model.run_traces()))
    return float((b_a @ model.fit.y) @ (b_v @ model.fit.y)) - bias


UNDETERMINED_AXIS = "the axis is undetermined: the references are not separated from their noise"


def fieller(
    num: float, den: float, poly: F64, t: float, unbounded: str = UNDETERMINED_AXIS
) -> tuple[float, float, str]:
    """The θ₀ with (N − θ₀ D)² ≤ t² (v0 + v1 θ₀ + v2 θ₀²): an interval, or NaN bounds
    with a reason (``unbounded``) when the set is unbounded."""
    v0, v1, v2 = (float(x) for x in poly)
    if not (math.isfinite(t) and t < 1e6):
        return NAN, NAN, "too few degrees of freedom for an interval"
    a2 = den**2 - t**2 * v2
    a1 = -(2 * num * den + t**2 * v1)
    a0 = num**2 - t**2 * v0
    disc = a1**2 - 4 * a2 * a0
    if not (a2 > 0 and disc >= 0):
        return NAN, NAN, unbounded
    root = math.sqrt(disc)
    return (-a1 - root) / (2 * a2), (-a1 + root) / (2 * a2), ""
