"""Vendi score, similarities and the weighted Vendi score: closed forms, invariances, oracle."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weightspace.diversity import (
    mean_embedding_similarity,
    mmd2,
    mmd_similarity,
    pair_rows,
    paired_similarity,
    per_class_vendi,
    renyi_entropy,
    vendi_score,
    vendi_score_kernel,
    weighted_vendi,
)
from weightspace.errors import ConfigError

QS = [0.5, 1.0, 2.0, math.inf]


def _features(n: int, d: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d))


# ---- closed forms ------------------------------------------------------------------------


@pytest.mark.parametrize("q", [0.0, *QS])
@pytest.mark.parametrize("n", [5, 300])  # n ≤ d (kernel path) and n > d (dual path)
def test_identical_points_score_one(q: float, n: int) -> None:
    x = np.tile(np.arange(1.0, 9.0), (n, 1))  # (n, 8), every row the same
    assert vendi_score(x, q=q) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("q", [0.0, *QS])
def test_orthonormal_points_score_n(q: float) -> None:
    basis = np.linalg.qr(_features(12, 12))[0]  # (12, 12) orthonormal rows
    assert vendi_score(basis[:7], q=q) == pytest.approx(7.0, rel=1e-12)  # kernel path
    tall = np.vstack([basis] * 3)  # (36, 12): each direction 3 times -> dual path
    assert vendi_score(tall, q=q) == pytest.approx(12.0, rel=1e-12)


def test_clusters_of_unequal_size_hand_computed() -> None:
    # Two orthogonal clusters holding 3/4 and 1/4 of the rows: λ = (3/4, 1/4).
    x = np.array([[1.0, 0.0]] * 6 + [[0.0, 5.0]] * 2)
    p = np.array([0.75, 0.25])
    assert vendi_score(x, q=1) == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-12)
    assert vendi_score(x, q=2) == pytest.approx(1 / (p**2).sum(), rel=1e-12)  # 1.6
    assert vendi_score(x, q=0.5) == pytest.approx(np.sqrt(p).sum() ** 2, rel=1e-12)
    assert vendi_score(x, q=math.inf) == pytest.approx(4 / 3, rel=1e-12)
    assert vendi_score(x, q="inf") == pytest.approx(4 / 3, rel=1e-12)
    assert vendi_score(x, q=0) == pytest.approx(2.0)


def test_q_limits_and_monotonicity() -> None:
    x = _features(200, 16, seed=1)
    v1 = vendi_score(x, q=1)
    assert vendi_score(x, q=1 - 1e-6) == pytest.approx(v1, rel=1e-5)
    assert vendi_score(x, q=1 + 1e-6) == pytest.approx(v1, rel=1e-5)
    assert vendi_score(x, q=200.0) == pytest.approx(vendi_score(x, q=math.inf), rel=0.05)
    # Rényi entropy decreases with q, so the score does too.
    scores = [vendi_score(x, q=q) for q in (0, 0.5, 1, 2, 5, math.inf)]
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(scores))
    assert scores[0] == pytest.approx(16.0)  # q = 0: rank


def test_renyi_entropy_uniform() -> None:
    p = np.full(8, 1 / 8)
    for q in [0, *QS]:
        assert renyi_entropy(p, q) == pytest.approx(math.log(8))


# ---- invariances and both computation paths ---------------------------------------------


def test_dual_and_kernel_paths_agree() -> None:
    x = _features(40, 30, seed=2)  # n > d: dual
    k = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (
        x / np.linalg.norm(x, axis=1, keepdims=True)
    ).T
    for q in QS:
        assert vendi_score(x, q=q) == pytest.approx(vendi_score_kernel(k, q=q), rel=1e-10)


def test_row_scaling_order_and_dtype_invariance() -> None:
    x = _features(500, 24, seed=3)
    scales = np.random.default_rng(9).uniform(0.01, 100, size=(500, 1))
    perm = np.random.default_rng(10).permutation(500)
    v = vendi_score(x)
    assert vendi_score(x * scales) == pytest.approx(v, rel=1e-10)
    assert vendi_score(x[perm]) == pytest.approx(v, rel=1e-10)
    assert vendi_score(x.astype(np.float32)) == pytest.approx(v, rel=1e-5)
    torch = pytest.importorskip("torch")
    assert vendi_score(torch.from_numpy(x)) == pytest.approx(v, rel=1e-12)


def test_chunked_dual_matches_single_block(monkeypatch: pytest.MonkeyPatch) -> None:
    import weightspace.diversity.vendi as vmod

    x = _features(1000, 8, seed=4)
    v = vendi_score(x, q=2)
    monkeypatch.setattr(vmod, "_CHUNK_ROWS", 7)
    assert vendi_score(x, q=2) == pytest.approx(v, rel=1e-12)


def test_zero_rows_dropped_or_refused() -> None:
    x = _features(20, 5, seed=5)
    with_zero = np.vstack([x, np.zeros((3, 5))])
    assert vendi_score(with_zero) == pytest.approx(vendi_score(x), rel=1e-12)
    with pytest.raises(ConfigError, match="all-zero rows"):
        vendi_score(with_zero, zero_rows="error")


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ConfigError, match="q="):
        vendi_score(_features(3, 3), q=-1)
    with pytest.raises(ConfigError, match="2-D"):
        vendi_score(np.ones(5))
    with pytest.raises(ConfigError, match="diagonal"):
        vendi_score_kernel(2 * np.eye(3))
    assert vendi_score_kernel(2 * np.eye(3), normalize=True) == pytest.approx(3.0)


def test_per_class_vendi() -> None:
    a = np.array([[1.0, 0.0]] * 4)  # class 0: one direction
    # class 1: rows e1, e1, e2, e2
    b = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    out = per_class_vendi(np.vstack([a, b]), np.array([0] * 4 + [1] * 4))
    assert out == {0: pytest.approx(1.0), 1: pytest.approx(2.0)}


# ---- similarities ------------------------------------------------------------------------


def test_paired_similarity_hand_built() -> None:
    real = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert paired_similarity(real, real) == pytest.approx(1.0)
    assert paired_similarity(real, -real) == pytest.approx(-1.0)
    assert paired_similarity(real, real[::-1]) == pytest.approx(0.0)  # rows swapped
    # One row kept, one rotated by 60°: mean of cosines (1 + 0.5) / 2.
    other = np.array([[3.0, 0.0], [math.sin(math.pi / 3), 0.5]])
    assert paired_similarity(real, other) == pytest.approx(0.75)
    # Raw Frobenius formula: <R, O> / (|R| |O|) = (3 + 0.5) / (sqrt(2) * sqrt(10)).
    assert paired_similarity(real, other, normalize=False) == pytest.approx(3.5 / math.sqrt(20))


def test_add_pairing_wraps_to_first_real_rows() -> None:
    assert pair_rows(3, 5).tolist() == [0, 1, 2, 0, 1]
    assert pair_rows(2, 7).tolist() == [0, 1, 0, 1, 0, 1, 0]
    assert pair_rows(4, 2).tolist() == [0, 1]
    real = np.eye(3)
    # "add" mix: real rows then 2 appended rows, equal to real rows 0 and 1 -> rho = 1.
    added = np.vstack([real, real[:2]])
    assert paired_similarity(real, added) == pytest.approx(1.0)
    # appended rows orthogonal to the first real rows -> rho = 3/5
    added_bad = np.vstack([real, real[[2, 2]]])
    assert paired_similarity(real, added_bad) == pytest.approx(3 / 5)


def test_unpaired_similarity_is_row_order_invariant() -> None:
    real = _features(300, 10, seed=6)
    other = real + 0.5 * _features(300, 10, seed=7)
    perm = np.random.default_rng(8).permutation(300)
    assert mean_embedding_similarity(real, other[perm]) == pytest.approx(
        mean_embedding_similarity(real, other), rel=1e-12
    )
    assert mmd2(real, other[perm]) == pytest.approx(mmd2(real, other), rel=1e-10)
    assert mmd2(real, other[perm], kernel="rbf") == pytest.approx(
        mmd2(real, other, kernel="rbf"), rel=1e-10
    )
    # while the paired rho is not
    assert paired_similarity(real, other[perm]) < paired_similarity(real, other) - 0.3


def test_mmd_separates_same_and_shifted_distributions() -> None:
    rng = np.random.default_rng(11)
    mu = np.r_[3.0, np.zeros(7)]
    a, b = rng.normal(size=(400, 8)) + mu, rng.normal(size=(400, 8)) + mu
    shifted = rng.normal(size=(400, 8)) - mu
    for kernel in ("cosine", "rbf"):
        same, diff = mmd2(a, b, kernel=kernel), mmd2(a, shifted, kernel=kernel)
        assert abs(same) < 0.02 < diff
        assert mmd_similarity(a, b, kernel=kernel) > mmd_similarity(a, shifted, kernel=kernel)
    # cosine kernel closed form: unbiased MMD² of unit rows from sums
    an = a / np.linalg.norm(a, axis=1, keepdims=True)
    bn = b / np.linalg.norm(b, axis=1, keepdims=True)
    kaa, kbb, kab = an @ an.T, bn @ bn.T, an @ bn.T
    brute = (kaa.sum() - 400) / (400 * 399) + (kbb.sum() - 400) / (400 * 399) - 2 * kab.mean()
    assert mmd2(a, b) == pytest.approx(brute, abs=1e-12)


def test_weighted_vendi_baseline_and_fields() -> None:
    real = _features(200, 16, seed=12)
    same = weighted_vendi(real, real)
    assert same.rho == pytest.approx(1.0)
    assert same.wvs == pytest.approx(same.vs_emb) == pytest.approx(vendi_score(real))
    noisy = weighted_vendi(real, real + 2.0 * _features(200, 16, seed=13), q=2)
    assert noisy.rho < 1
    assert noisy.wvs == pytest.approx(noisy.vs_emb * noisy.rho)
    assert noisy.q == 2 and noisy.n_real == noisy.n_other == 200
    assert 0 < noisy.mmd_sim <= 1


# ---- parity with the reference package ---------------------------------------------------


_REF_WARNINGS = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.mark.oracle
@_REF_WARNINGS
@pytest.mark.parametrize("shape", [(30, 60), (200, 20)])  # full rank both ways
@pytest.mark.parametrize("q", [0.5, 1, 2, "inf"])
def test_parity_with_vendi_score_package(shape: tuple[int, int], q: float | str) -> None:
    vendi = pytest.importorskip("vendi_score.vendi")
    x = _features(*shape, seed=14)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    ours = vendi_score(x, q=q)
    # For q < 1 only the full-rank form is comparable: on the rank-deficient one the
    # package sums the round-off eigenvalues too (see test_reference_package_defects...).
    full_rank_only = q == 0.5
    if not full_rank_only or shape[0] > shape[1]:
        assert ours == pytest.approx(vendi.score_dual(x, q=q), rel=1e-8, abs=0)
    if not full_rank_only or shape[0] <= shape[1]:
        assert ours == pytest.approx(vendi.score_K(xn @ xn.T, q=q), rel=1e-8, abs=0)
    if shape[0] <= shape[1]:
        assert vendi_score_kernel(xn @ xn.T, q=q) == pytest.approx(
            vendi.score_K(xn @ xn.T, q=q), rel=1e-8, abs=0
        )
    if q == 1:  # score_X ignores q (it always passes q=1 to score_K)
        assert ours == pytest.approx(vendi.score_X(x), rel=1e-8, abs=0)


@pytest.mark.oracle
@_REF_WARNINGS
def test_reference_package_defects_we_avoid() -> None:
    vendi = pytest.importorskip("vendi_score.vendi")
    x = _features(100, 10, seed=15)
    # 1. score_X ignores q.
    assert vendi.score_X(x, q=2) == pytest.approx(vendi.score_X(x, q=1))
    assert vendi_score(x, q=2) < vendi_score(x, q=1) - 0.1
    # 2. q=float('inf') is NaN there (only the string "inf" is special-cased).
    with np.errstate(all="ignore"):
        assert math.isnan(vendi.score_dual(x, q=math.inf))
    assert vendi_score(x, q=math.inf) == pytest.approx(vendi.score_dual(x, q="inf"), rel=1e-8)
    # 3. rank-deficient n×n kernel: round-off eigenvalues inflate q < 1 there.
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    ref_half = vendi.score_K(xn @ xn.T, q=0.5)
    assert abs(ref_half - vendi_score(x, q=0.5)) > 1e-9  # polluted by ~90 round-off values
    assert vendi_score(x, q=0.5) == pytest.approx(vendi.score_dual(x, q=0.5), rel=1e-8)
    # 4. zero rows stay zero after its normalisation, so the eigenvalues sum to < 1.
    with_zero = np.vstack([x, np.zeros((100, 10))])
    assert vendi.score_dual(with_zero) != pytest.approx(vendi_score(with_zero), rel=1e-3)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 40),
    d=st.integers(1, 40),
    seed=st.integers(0, 2**16),
    q=st.sampled_from([0.0, 0.5, 1.0, 2.0, math.inf]),
)
def test_vendi_bounds_and_paths_property(n: int, d: int, seed: int, q: float) -> None:
    x = np.random.default_rng(seed).normal(size=(n, d))
    v = vendi_score(x, q=q)
    assert 1.0 - 1e-9 <= v <= min(n, d) + 1e-9
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert v == pytest.approx(vendi_score_kernel(xn @ xn.T, q=q), rel=1e-9)
