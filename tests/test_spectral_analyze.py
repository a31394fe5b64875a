"""analyze_matrices / analyze_specs: metrics, modes, MP recovery, hostile matrices, summary."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weightspace.errors import ConfigError
from weightspace.spectral import analyze_matrices, analyze_specs, columns, fit_mp, summarize
from weightspace.spectral.esd import as_slices, slice_eigenvalues
from weightspace.spectral.layers import LayerSpec


def _gauss(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    return rng.standard_normal((n, m)) / math.sqrt(n)


def test_gram_eigenvalues_match_squared_singular_values() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 40, 17))
    ev = slice_eigenvalues(as_slices(w))
    ref = np.sort(np.linalg.svd(w, compute_uv=False) ** 2, axis=1)
    np.testing.assert_allclose(ev, ref, rtol=1e-10)
    wide = as_slices(rng.standard_normal((3, 8)))  # transposed so that N >= M
    assert wide.shape == (1, 8, 3)


def test_norm_metrics_closed_forms() -> None:
    rng = np.random.default_rng(1)
    w = rng.standard_normal((120, 40)) * (rng.pareto(2.0, (1, 40)) + 1)
    row = analyze_matrices({"w": w}).iloc[0]
    ev = np.linalg.svd(w, compute_uv=False) ** 2
    assert row.status == "success" and row.compat == ""
    assert row.log_norm == pytest.approx(math.log10(np.sum(w * w)), rel=1e-12)
    assert row.log_spectral_norm == pytest.approx(math.log10(ev.max()), rel=1e-12)
    assert row.stable_rank == pytest.approx(ev.sum() / ev.max(), rel=1e-10)
    assert row.alpha_weighted == pytest.approx(row.alpha * row.log_spectral_norm, rel=1e-12)
    assert row.log_alpha_norm == pytest.approx(math.log10(np.sum(ev**row.alpha)), rel=1e-9)
    p = ev / ev.sum()
    assert row.entropy == pytest.approx(-np.sum(p * np.log(p)) / math.log(40), rel=1e-10)
    assert (row.N, row.M, row.rf, row.Q, row.num_evals) == (120, 40, 1, 3.0, 40)
    assert row.matrix_rank == 40 and row.rank_loss == 0
    assert list(analyze_matrices({"w": w}).columns) == columns()


def test_conv_slices_pool_and_compat_halves_eigenvalues() -> None:
    rng = np.random.default_rng(2)
    kernel = rng.standard_normal((16, 8, 3, 3))  # (out, in, kh, kw)
    slices = np.stack([kernel[:, :, i, j] for i in range(3) for j in range(3)])  # (9, 16, 8)
    pooled = np.sort((np.linalg.svd(slices, compute_uv=False) ** 2).ravel())
    default = analyze_matrices({"c": slices}, conv_slices=True).iloc[0]
    ww = analyze_matrices({"c": slices}, conv_slices=True, compat="ww").iloc[0]
    assert (default.num_evals, default.rf, default.N, default.M) == (72, 9, 16, 8)
    assert default.lambda_max == pytest.approx(pooled[-1], rel=1e-12)
    assert ww.lambda_max == pytest.approx(pooled[-1] / 2, rel=1e-12)
    assert ww.log_norm == pytest.approx(math.log10(pooled.sum() / 2), rel=1e-12)
    assert ww.alpha == pytest.approx(default.alpha, rel=1e-9)  # alpha is scale-free
    assert ww.compat == "ww"


@pytest.mark.parametrize(("n", "m"), [(2000, 500), (1500, 1000), (800, 800)])
def test_mp_fit_recovers_bulk_edge_of_gaussian_matrix(n: int, m: int) -> None:
    rng = np.random.default_rng(n + m)
    sigma2 = 0.3
    w = rng.standard_normal((n, m)) * math.sqrt(sigma2)
    ev = slice_eigenvalues(as_slices(w)).ravel()
    fit = fit_mp(ev, n=n, m=m)
    q = n / m
    edge = sigma2 * n * (1 + 1 / math.sqrt(q)) ** 2  # MP edge of WᵀW
    assert not fit.reason
    assert fit.num_spikes == 0
    if q != 1:  # quarter-circle fit on singular values reports a different sigma scale
        assert fit.sigma_mp == pytest.approx(1.0, abs=0.06)
        assert fit.bulk_max == pytest.approx(edge, rel=0.08)
    assert fit.W_scale == pytest.approx(math.sqrt(m / ev.sum()), rel=1e-12)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_mp_fit_counts_planted_spikes(k: int) -> None:
    rng = np.random.default_rng(k)
    n, m = 1200, 400
    w = _gauss(rng, n, m)
    u = np.linalg.qr(rng.standard_normal((n, k)))[0]
    v = np.linalg.qr(rng.standard_normal((m, k)))[0]
    w = w + u @ np.diag(np.linspace(3.0, 4.0, k)) @ v.T  # far above the BBP threshold
    row = analyze_matrices({"w": w}, mp_fit=True).iloc[0]
    assert row.num_spikes == k


def test_hostile_matrices_give_rows_not_crashes() -> None:
    rng = np.random.default_rng(3)
    bad = rng.standard_normal((30, 12))
    bad[3, 4] = np.nan
    inf = rng.standard_normal((30, 12))
    inf[0, 0] = np.inf
    mats = {
        "nan": bad,
        "inf": inf,
        "zero": np.zeros((30, 12)),
        "row": rng.standard_normal((1, 40)),
        "tall": rng.standard_normal((20000, 3)),  # huge Q
        "rank1": np.outer(rng.standard_normal(30), rng.standard_normal(12)),
    }
    df = analyze_matrices(mats, mp_fit=True, randomize=True).set_index("longname")
    for name in ("nan", "inf"):
        assert df.loc[name, "status"] == "failed"
        assert df.loc[name, "reason"] == "weights contain NaN/Inf"
        assert math.isnan(df.loc[name, "alpha"])
    assert df.loc["zero", "status"] == "failed" and "zero" in df.loc["zero", "reason"]
    assert df.loc["zero", "matrix_rank"] == 0
    assert df.loc["row", "status"] == "failed" and df.loc["row", "M"] == 1
    assert df.loc["row", "lambda_max"] == pytest.approx(np.sum(mats["row"] ** 2))
    assert df.loc["tall", "Q"] == pytest.approx(20000 / 3)
    assert df.loc["rank1", "matrix_rank"] == 1 and df.loc["rank1", "rank_loss"] == 11
    assert df.loc["rank1", "entropy"] == 0.0
    for name in df.index:  # labels only on successful fits
        if df.loc[name, "status"] != "success":
            assert df.loc[name, "warning"] == ""


def test_labels_follow_alpha() -> None:
    rng = np.random.default_rng(4)
    heavy = rng.standard_cauchy((400, 200))  # very heavy tail: alpha < 2
    light = _gauss(rng, 400, 200)  # MP bulk: large alpha
    df = analyze_matrices({"heavy": heavy, "light": light}).set_index("longname")
    assert df.loc["heavy", "alpha"] < 2 and df.loc["heavy", "warning"] == "over-trained"
    assert df.loc["light", "alpha"] > 6 and df.loc["light", "warning"] == "under-trained"


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(20, 90),
    m=st.integers(8, 40),
    rank=st.sampled_from([0, 3]),
    log_c=st.floats(-6, 6),
)
def test_default_mode_is_scale_invariant(
    seed: int, n: int, m: int, rank: int, log_c: float
) -> None:
    rng = np.random.default_rng(seed)
    w = rng.standard_t(3.0, (n, m))
    if rank:  # rank-deficient: zero eigenvalues must stay below the relative floor
        w = w[:, :rank] @ rng.standard_normal((rank, m))
    c = 10.0**log_c
    a, b = analyze_matrices([w, c * w]).itertuples()
    assert a.status == b.status
    for col in ("alpha", "D", "stable_rank", "entropy"):
        va, vb = getattr(a, col), getattr(b, col)
        assert (math.isnan(va) and math.isnan(vb)) or vb == pytest.approx(va, rel=1e-8), col
    assert a.matrix_rank == b.matrix_rank


def test_randomize_is_seeded_and_measures_structure() -> None:
    rng = np.random.default_rng(5)
    u = rng.standard_normal((300, 4))
    structured = u @ rng.standard_normal((4, 100)) + 0.05 * rng.standard_normal((300, 100))
    noise = rng.standard_normal((300, 100))
    mats = {"structured": structured, "noise": noise}
    a = analyze_matrices(mats, randomize=True, seed=7)
    b = analyze_matrices(mats, randomize=True, seed=7)
    c = analyze_matrices(mats, randomize=True, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a.rand_ks, c.rand_ks) or not np.allclose(a.rand_alpha, c.rand_alpha)
    df = a.set_index("longname")
    assert df.loc["structured", "rand_ks"] > 0.5 > 0.2 > df.loc["noise", "rand_ks"]
    assert df.loc["noise", "rand_num_spikes"] == 0
    assert df.loc["noise", "num_traps"] == df.loc["noise", "rand_num_spikes"]


def test_skipped_specs_become_rows_with_reason() -> None:
    spec = LayerSpec(layer_id=3, name="LayerNorm", longname="ln", layer_type="norm",
                     status="skipped", reason="no 2-D weight")  # fmt: skip
    df = analyze_specs([spec])
    assert df.loc[0, "status"] == "skipped" and df.loc[0, "reason"] == "no 2-D weight"
    assert df.loc[0, "layer_id"] == 3 and math.isnan(df.loc[0, "alpha"])


def test_summarize_excludes_failed_and_reports_medians() -> None:
    rng = np.random.default_rng(6)
    mats = {f"w{i}": rng.standard_t(3.0, (200, 80)) for i in range(3)}
    mats["nan"] = np.full((10, 10), np.nan)
    df = analyze_matrices(mats)
    out = summarize(df)
    ok = df[df.status == "success"]
    assert out.loc["alpha", "mean"] == pytest.approx(ok.alpha.mean())
    assert out.loc["alpha", "median"] == pytest.approx(ok.alpha.median())
    assert out.loc["alpha", "count"] == 3
    assert out.attrs["counts"] == {"success": 3, "failed": 1, "skipped": 0}
    assert out.loc["layers_failed", "count"] == 1


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="compat"):
        analyze_matrices([np.eye(10)], compat="weightwatcher")
    with pytest.raises(ConfigError, match="device"):
        analyze_matrices([np.eye(10)], device="tpu")


def test_parallel_layers_give_identical_rows_in_order() -> None:
    rng = np.random.default_rng(7)
    mats = {f"w{i}": rng.standard_t(4.0, (60 + 10 * i, 30)) for i in range(6)}
    mats["nan"] = np.full((10, 10), np.nan)
    serial = analyze_matrices(mats, mp_fit=True, randomize=True)
    specs = [
        LayerSpec(layer_id=i, name="Matrix", longname=k, layer_type="linear", load=(lambda a=a: a))
        for i, (k, a) in enumerate(mats.items())
    ]
    parallel = analyze_specs(specs, mp_fit=True, randomize=True, workers=3)
    pd.testing.assert_frame_equal(serial, parallel)
    with pytest.raises(ConfigError, match="workers"):
        analyze_specs(specs, workers=0)


@pytest.mark.gpu
def test_cuda_path_matches_cpu_in_float64() -> None:
    rng = np.random.default_rng(8)
    slices = as_slices(rng.standard_t(3.0, (9, 64, 48)))
    np.testing.assert_allclose(
        slice_eigenvalues(slices, device="cuda"), slice_eigenvalues(slices), rtol=1e-10, atol=1e-12
    )
    mats = {"conv": slices, "fc": rng.standard_t(3.0, (300, 100))}
    cpu = analyze_matrices(mats, conv_slices=True, mp_fit=True)
    gpu = analyze_matrices(mats, conv_slices=True, mp_fit=True, device="cuda")
    pd.testing.assert_frame_equal(cpu, gpu, rtol=1e-8)


def test_float32_eigensolver_is_close_to_float64() -> None:
    rng = np.random.default_rng(9)
    mats = {f"w{i}": rng.standard_t(3.0, (400, 200 + 50 * i)) for i in range(3)}
    mats["conv"] = rng.standard_t(3.0, (9, 128, 64))
    a = analyze_matrices(mats, conv_slices=True)
    b = analyze_matrices(mats, conv_slices=True, precision="float32")
    np.testing.assert_allclose(b.alpha, a.alpha, rtol=1e-3)
    np.testing.assert_allclose(b.log_norm, a.log_norm, rtol=1e-6)
    np.testing.assert_allclose(b.log_spectral_norm, a.log_spectral_norm, rtol=1e-5)
    with pytest.raises(ConfigError, match="precision"):
        analyze_matrices(mats, precision="float16")


def test_analyze_torch_model_end_to_end() -> None:
    torch = pytest.importorskip("torch")
    from weightspace.spectral import analyze

    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 32),
                          nn.LayerNorm(32), nn.Linear(32, 4))  # fmt: skip
    seen: list[tuple[int, int, str]] = []
    df = analyze(model, progress=lambda d, t, n: seen.append((d, t, n)), threads=2)
    ww = analyze(model, compat="ww")
    assert [s[0] for s in seen] == list(range(1, len(df) + 1))
    assert list(df.layer_id) == sorted(df.layer_id)  # named_modules() order
    conv = df[df.name == "Conv2d"].iloc[0]
    assert (conv.rf, conv.N, conv.M, conv.num_evals) == (9, 16, 3, 27)
    w = model[0].weight.detach().double().numpy()
    lmax = max(np.linalg.norm(w[:, :, i, j], 2) ** 2 for i in range(3) for j in range(3))
    assert conv.lambda_max == pytest.approx(lmax, rel=1e-10)
    assert ww[ww.name == "Conv2d"].iloc[0].lambda_max == pytest.approx(lmax / 2, rel=1e-10)
    small = df[df.longname == "5"].iloc[0]  # 4 eigenvalues < min_evals = 8
    assert small.status == "skipped" and small.reason
    assert set(df.status) <= {"success", "failed", "skipped"}
