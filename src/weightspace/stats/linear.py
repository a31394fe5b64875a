"""The seed-matched linear model behind every ΔΔ estimate, and its noise.

A study's runs are condition × seed cells. For one dataset, a run's Δ (after − before, a
vector of P cells: metrics × layers) is modelled as ::

    y[r] = m[condition(r)] + w[seed(r)] + e[r],     e[r] ~ (0, s²[group(r)] · C)

``w`` is what every run of a seed shares (the same head initialisation, data order and
subset): it is a fixed effect, so it cancels exactly, however large. ``m[c] − m[bs]`` is the
condition's ΔΔ; with every condition observed at the baseline's seeds it equals the
seed-matched ΔΔ averaged over seeds, and with unbalanced seeds (a failed run, a baseline
with more seeds than the conditions) it is the least-squares estimate that still removes
``w``. Noise is heteroscedastic by *group* (a category: baseline, dropout, ...), with a
covariance shape ``C`` shared by the groups (correlated layers and metrics allowed).

Noise estimates come from the residuals of that fit (within-condition deviations across
seeds, seed effects removed), pooled within each group: with ``M = I − H`` the residual
maker, ``E[Σ_{r∈g} res_r²] = Σ_{g'} A[g, g'] s²[g']`` with ``A[g, g'] = Σ_{r∈g, r'∈g'}
M[r, r']²`` — solved for unbiased group variances (for any projection of the cells), each
with ``Σ_{r∈g} M[r, r]`` degrees of freedom. The shape's effective dimension
``h = (tr C)² / tr C²`` (how many independent directions the noise really has; 1 for
perfectly correlated cells, P for independent ones) comes from the pooled standardised
residuals through the Wishart moments.

Everything downstream is a linear contrast of condition means, ``L = Σ_c a[c] m[c] =
Σ_r b[r] y[r]``, whose noise covariance is ``Σ_g (Σ_{r∈g} b[r]²) s²[g] C``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from weightspace.errors import DataError

log = logging.getLogger(__name__)

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
MIN_GROUP_DF = 2.0  # a group whose own estimate would have fewer df borrows the pooled noise


def _codes(labels: ArrayLike) -> tuple[I64, list[object]]:
    values = list(np.asarray(labels, dtype=object))
    order = list(dict.fromkeys(values))
    index = {v: i for i, v in enumerate(order)}
    return np.array([index[v] for v in values], dtype=np.int64), order


@dataclass(frozen=True)
class Design:
    """Which condition, seed and noise group every run belongs to (integer codes) and the
    labels behind the codes."""

    condition: I64
    seed: I64
    group: I64
    conditions: tuple[object, ...]
    seeds: tuple[object, ...]
    groups: tuple[object, ...]

    @classmethod
    def from_labels(cls, condition: ArrayLike, seed: ArrayLike, group: ArrayLike) -> Design:
        c, cl = _codes(condition)
        s, sl = _codes(seed)
        g, gl = _codes(group)
        if not (len(c) == len(s) == len(g)):
            raise DataError("condition, seed and group labels must have one entry per run")
        return cls(c, s, g, tuple(cl), tuple(sl), tuple(gl))

    @property
    def n_runs(self) -> int:
        return len(self.condition)

    def matrix(self) -> F64:
        """(N, C + S − 1): condition indicators and sum-to-zero seed effects, so a
        condition's coefficient is its mean over the seeds."""
        n, n_c, n_s = self.n_runs, len(self.conditions), len(self.seeds)
        x = np.zeros((n, n_c + max(n_s - 1, 0)))
        x[np.arange(n), self.condition] = 1.0
        for j in range(n_s - 1):
            x[:, n_c + j] = (self.seed == j).astype(float) - (self.seed == n_s - 1)
        return x

    def index(self, condition: object) -> int:
        return self.conditions.index(condition)


@dataclass(frozen=True)
class LinearFit:
    """The fit of one dataset's runs: condition means and what their noise is.

    ``coef`` (C, N): run weights of each condition mean (``means = coef @ y``); ``ainv``
    (G, G) and ``group_df`` (G,): the variance-component system; ``group_of_run``: the
    noise group of each run after groups without residual information were pooled."""

    design: Design
    y: F64  # (N, P)
    means: F64  # (C, P)
    coef: F64  # (C, N)
    residuals: F64  # (N, P)
    ainv: F64  # (G, G)
    group_df: F64  # (G,)
    group_of_run: I64  # (N,)
    residual_df: float
    maker: F64  # (N, N) the residual maker M = I − H

    @property
    def n_groups(self) -> int:
        return len(self.group_df)

    def weights(self, contrast: ArrayLike) -> F64:
        """Run weights ``b`` of ``Σ_c a[c] m[c]`` for a contrast (C,) or several (k, C)."""
        out: F64 = np.asarray(contrast, dtype=float) @ self.coef
        return out

    def group_sums(self, b1: F64, b2: F64) -> F64:
        """``Σ_{r∈g} b1[r] b2[r]`` per group (G,): the weight of each group's variance in
        the covariance of two contrasts."""
        out: F64 = np.bincount(self.group_of_run, weights=b1 * b2, minlength=self.n_groups).astype(
            float
        )
        return out

    def cell_variance(self) -> F64:
        """(G, P) unbiased per-cell noise variance of each group (clipped at a small
        positive floor where sampling made it negative)."""
        ss = np.zeros((self.n_groups, self.y.shape[1]))
        np.add.at(ss, self.group_of_run, self.residuals**2)
        var = self.ainv @ ss
        floor = 1e-3 * np.maximum((self.residuals**2).sum(0) / max(self.residual_df, 1.0), 1e-300)
        out: F64 = np.maximum(var, floor)
        return out

    def projected_cov(self, q: F64) -> F64:
        """(G, k, k) noise covariance of each group along the columns of ``q`` (P, k),
        made positive semi-definite."""
        proj = self.residuals @ q  # (N, k)
        outer = proj[:, :, None] * proj[:, None, :]
        ss = np.zeros((self.n_groups, q.shape[1], q.shape[1]))
        np.add.at(ss, self.group_of_run, outer)
        cov = np.einsum("gh,hij->gij", self.ainv, ss)
        vals, vecs = np.linalg.eigh(cov)
        out: F64 = np.einsum("gij,gj,gkj->gik", vecs, np.maximum(vals, 0.0), vecs)
        return out

    def columns(self, keep: NDArray[np.bool_]) -> LinearFit:
        """The same fit restricted to the cells ``keep`` (the design is unchanged)."""
        return LinearFit(
            self.design, self.y[:, keep], self.means[:, keep], self.coef,
            self.residuals[:, keep], self.ainv, self.group_df, self.group_of_run,
            self.residual_df, self.maker,
        )  # fmt: skip

    def combination_df(self, weights: F64, variances: F64, dim: float = 1.0) -> float:
        """Degrees of freedom of ``Σ_g weights[g] · variances[g]`` when ``variances`` are
        this fit's group estimates: ``2 (Σ w v)² / Var``, with the covariance of the
        estimates from the residual quadratic forms (``Cov(SS_g, SS_h) = 2 Σ S[r, r']²``
        over r ∈ g, r' ∈ h, ``S = M diag(v) M``) mapped through ``A⁻¹`` — which counts what
        the correction for noise leaking between groups costs. ``dim``: how many
        independent cells the variances sum (``h`` for traces)."""
        v = np.maximum(np.asarray(variances, dtype=float), 0.0)
        w = np.asarray(weights, dtype=float)
        total = float(w @ v)
        if not total > 0:
            return math.nan
        s = self.maker @ (self.maker * v[self.group_of_run][None, :]).T  # M D M
        z = np.zeros((len(self.group_of_run), self.n_groups))
        z[np.arange(len(self.group_of_run)), self.group_of_run] = 1.0
        cov = self.ainv @ (2.0 * z.T @ (s * s) @ z) @ self.ainv.T
        var = float(w @ cov @ w)
        return 2.0 * total**2 * dim / var if var > 0 else math.inf


def fit(y: ArrayLike, design: Design) -> LinearFit:
    """Least-squares fit of :class:`Design` to ``y`` (N, P) and its variance components."""
    y = np.asarray(y, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    if y.shape[0] != design.n_runs:
        raise DataError(f"{y.shape[0]} rows of values for {design.n_runs} runs")
    if not np.isfinite(y).all():
        raise DataError("the linear model needs finite values; drop cells with NaN first")
    coef, m, ainv, df, group, rank = _design_parts(design)
    return LinearFit(
        design, y, coef @ y, coef, m @ y, ainv, df, group, float(design.n_runs - rank), m
    )


_CACHE: dict[bytes, tuple[F64, F64, F64, F64, I64, int]] = {}


def _design_parts(design: Design) -> tuple[F64, F64, F64, F64, I64, int]:
    """What the fit needs from the design alone (cached: simulations refit one design)."""
    key = np.stack([design.condition, design.seed, design.group]).tobytes() + bytes(
        str((len(design.conditions), len(design.seeds))), "ascii"
    )
    if key in _CACHE:
        return _CACHE[key]
    x = design.matrix()
    pinv = np.asarray(np.linalg.pinv(x), dtype=np.float64)
    rank = int(np.linalg.matrix_rank(x))
    if rank < x.shape[1]:
        log.warning(
            "the conditions' seed sets do not connect every condition to the baseline; "
            "some contrasts are not estimable"
        )
    m = np.eye(design.n_runs) - x @ pinv  # residual maker
    group = _pool_uninformed(design.group, np.diag(m))
    ainv, df, group = _variance_system(m, group)
    coef: F64 = pinv[: len(design.conditions)]
    parts = (coef, m, ainv, df, group, rank)
    if len(_CACHE) > 64:
        _CACHE.clear()
    _CACHE[key] = parts
    return parts


def _pool_uninformed(group: I64, leverage_left: F64) -> I64:
    """Groups whose own noise estimate would have fewer than :data:`MIN_GROUP_DF` residual
    degrees of freedom (a baseline with three seeds: ~1.7) borrow the noise level of the
    best-estimated group (most residual df): their runs are recoded into it. With the
    calm baseline borrowing a noisier category's level this errs on the conservative side."""
    df = np.bincount(group, weights=leverage_left)
    poor = np.flatnonzero(df < MIN_GROUP_DF)
    if not len(poor):
        return group
    best = int(np.argmax(df))
    if df[best] < MIN_GROUP_DF:  # nothing informative anywhere: one pooled group
        return np.zeros_like(group)
    log.info("noise groups %s have < %g residual df; they borrow group %d's noise level",
             poor.tolist(), MIN_GROUP_DF, best)  # fmt: skip
    merged = np.where(np.isin(group, poor), best, group)
    _, codes = np.unique(merged, return_inverse=True)
    return codes.astype(np.int64)


def _variance_system(m: F64, group: I64) -> tuple[F64, F64, I64]:
    """(A⁻¹, per-group df, group codes) of the residual sums of squares (module
    docstring); groups that cannot be told apart are pooled into one."""
    n_g = int(group.max()) + 1
    z = np.zeros((len(group), n_g))
    z[np.arange(len(group)), group] = 1.0
    a = z.T @ (m**2) @ z
    df = z.T @ np.diag(m)
    if np.linalg.matrix_rank(a) < n_g:  # groups that cannot be told apart: pool them all
        log.info("noise groups cannot be separated by this design; one pooled noise level")
        total = float(a.sum())
        inv_total = 1.0 / total if total > 0 else math.nan  # no residual at all: unknown
        return np.array([[inv_total]]), np.array([df.sum()]), np.zeros_like(group)
    inv = np.asarray(np.linalg.inv(a), dtype=np.float64)
    return inv, df, group


def effective_dimension(fit: LinearFit, traces: F64 | None = None) -> float:
    """``h = (tr C)² / tr C²`` of the common noise shape from the pooled residuals, each
    standardised by its group's noise trace (Wishart moments with the residual df);
    between 1 and the number of cells."""
    if traces is None:
        traces = fit.cell_variance().sum(1)
    p = fit.y.shape[1]
    k = fit.residual_df
    if k < 2 or p == 1:
        return 1.0
    z = fit.residuals / np.sqrt(traces[fit.group_of_run])[:, None]
    gram = z @ z.T
    a, b = float((gram**2).sum()), float(np.trace(gram)) ** 2
    t2 = (a - b / k) / ((k + 2) * (k - 1))
    t1_sq = (b - 2 * k * t2) / k**2
    if not (t2 > 0 and t1_sq > 0):
        return float(p)
    # the ratio estimate is biased upward with few residual df, and a larger h understates
    # the spread of a quadratic form (liberal tests): shrink by k / (k + 2)
    return float(min(max(t1_sq / t2 * k / (k + 2), 1.0), p))


def satterthwaite(parts: ArrayLike, dfs: ArrayLike) -> float:
    """Degrees of freedom of a sum of independent variance estimates ``parts`` with
    ``dfs`` each (an infinite df: a known part)."""
    parts, dfs = np.asarray(parts, dtype=float), np.asarray(dfs, dtype=float)
    total = parts.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = np.sum(np.where(np.isfinite(dfs) & (dfs > 0), parts**2 / dfs, 0.0))
    if not total > 0:
        return math.nan
    return float(total**2 / denom) if denom > 0 else math.inf


def seed_sets(
    condition: Sequence[object], seed: Sequence[object]
) -> dict[object, frozenset[object]]:
    """The set of seeds each condition was run with."""
    out: dict[object, set[object]] = {}
    for c, s in zip(condition, seed, strict=True):
        out.setdefault(c, set()).add(s)
    return {c: frozenset(v) for c, v in out.items()}
