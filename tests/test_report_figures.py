"""Figure functions: each returns a pyplot-free Figure with the expected panels and artists."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from report_fixtures import make_study
from weightspace.compare.delta import study_delta_delta
from weightspace.compare.load import normalize_layers
from weightspace.report import (
    category_means_figure,
    diversity_figure,
    dose_response_figure,
    layer_profiles_figure,
    plot_esd,
    plot_esd_row,
    run_metrics_figure,
    synthetic_figure,
)
from weightspace.report._data import category_summary, mean_ci
from weightspace.report.esd import layer_eigenvalues
from weightspace.spectral.esd import fitted_eigenvalues
from weightspace.spectral.mp import mp_density


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_study(tmp_path_factory.mktemp("study"))


@pytest.fixture(scope="module")
def dd(study: Path) -> pd.DataFrame:
    return study_delta_delta(normalize_layers(pd.read_parquet(study / "layers.parquet")))


@pytest.fixture(autouse=True)
def _no_pyplot_leak() -> None:
    yield
    assert plt.get_fignums() == [], "a figure was registered with pyplot"


def _visible_axes(fig) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


def test_mp_density_integrates_to_one_and_vanishes_outside_bulk() -> None:
    q, sigma = 4.0, 1.3
    lo, hi = sigma**2 * (1 - 0.5) ** 2, sigma**2 * (1 + 0.5) ** 2
    x = np.linspace(lo, hi, 200_001)
    assert np.trapezoid(mp_density(x, q, sigma), x) == pytest.approx(1.0, abs=1e-3)
    assert mp_density(np.array([lo * 0.9, hi * 1.1]), q, sigma).tolist() == [0.0, 0.0]


def test_eigenvalues_match_squared_singular_values_and_halve_for_conv() -> None:
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 20, 6))  # (S, N, M)
    sv = np.linalg.svd(w, compute_uv=False) ** 2
    ev = np.sort(fitted_eigenvalues(w).ravel())
    np.testing.assert_allclose(ev, np.sort(sv.ravel()), rtol=1e-10)
    halved = np.sort(fitted_eigenvalues(w, ww=True, conv_slices=True).ravel())
    np.testing.assert_allclose(halved, np.sort(sv.ravel()) / 2, rtol=1e-10)
    dense_ww = np.sort(fitted_eigenvalues(w, ww=True, conv_slices=False).ravel())
    np.testing.assert_allclose(dense_ww, np.sort(sv.ravel()), rtol=1e-10)


def test_layer_eigenvalues_from_weights_file(study: Path) -> None:
    path = next((study / "runs").glob("bs__s0*")) / "weights_init.safetensors"
    from safetensors.numpy import load_file

    w = load_file(str(path))["conv1.weight"].astype(np.float64)  # (8, 3, 3, 3)
    ev = layer_eigenvalues(path, "conv1", compat=True)
    assert ev.shape == (9 * 3,)  # kh·kw·min(in, out) pooled eigenvalues
    assert ev.sum() == pytest.approx(0.5 * (w**2).sum(), rel=1e-9)  # halved in compat mode
    ev_raw = layer_eigenvalues(path, "fc", compat=True)
    assert ev_raw.sum() == pytest.approx(float((load_file(str(path))["fc.weight"] ** 2).sum()))


def test_plot_esd_draws_histogram_power_law_and_mp() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((400, 100)) / 20
    ev = np.sort(fitted_eigenvalues(w[None]).ravel())
    fig = plot_esd(ev, alpha=3.0, xmin=float(np.quantile(ev, 0.8)), sigma_mp=1.0, Q=4.0, title="fc")
    (ax,) = fig.axes
    assert ax.get_xscale() == ax.get_yscale() == "log"
    labels = [line.get_label() for line in ax.get_lines()]
    assert any(label.startswith("power law α=3.00") for label in labels)
    assert any(label.startswith("MP σ=1.00") for label in labels)
    (hist,) = ax.patches  # one step-filled histogram polygon
    assert hist.get_label() == f"ESD (n={ev.size})"
    # The power-law line has slope −α on log-log axes.
    pl = next(li for li in ax.get_lines() if li.get_label().startswith("power law"))
    x, y = pl.get_data()
    slope = np.diff(np.log(y[[0, -1]])) / np.diff(np.log(x[[0, -1]]))
    assert slope[0] == pytest.approx(-3.0)


def test_plot_esd_leaves_out_failed_fit() -> None:
    fig = plot_esd_row(
        np.linspace(0.1, 2, 50), {"alpha": float("nan"), "xmin": 0.5, "longname": "x"}
    )
    (ax,) = fig.axes
    assert not [li for li in ax.get_lines() if li.get_label().startswith(("power", "MP"))]
    assert "α=NaN" in ax.get_title()


def test_plot_esd_into_given_axes() -> None:
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.subplots(1, 2)[1]
    assert plot_esd(np.linspace(0.1, 1, 20), ax=ax) is fig


def test_delta_delta_recovers_shift(dd: pd.DataFrame) -> None:
    # The fixture moves log_norm after training by SHIFT[category] * (1 + layer_id).
    wd = dd[(dd["condition"] == "wd0.001") & (dd["layer"] == "fc")]
    assert wd["log_norm"].mean() == pytest.approx(-0.03 * 4, abs=0.005)
    assert set(dd["condition"]) >= {"dp0.1", "wd0.001"} and "bs" not in set(dd["condition"])


def test_mean_ci_closed_form() -> None:
    m, lo, hi, n = mean_ci(np.array([1.0, 2.0, 3.0]))
    assert m - lo == pytest.approx(hi - m)
    assert (m, n) == (2.0, 3)
    assert hi - m == pytest.approx(4.302653 * 1.0 / np.sqrt(3), rel=1e-5)


def test_category_means_figure(dd: pd.DataFrame) -> None:
    fig = category_means_figure(dd, metrics=["alpha", "log_norm"])
    axes = _visible_axes(fig)
    assert len(axes) == 2
    assert len(axes[1].patches) == dd["category"].nunique()  # one bar per category
    summary = category_summary(dd, ["log_norm"])
    wd = summary[summary["category"] == "wd"].iloc[0]
    assert wd["ci_low"] < wd["mean"] < wd["ci_high"] < 0


def test_category_means_from_summary_table() -> None:
    summary = pd.DataFrame(
        {"category": ["div", "dp", "wd"], "metric": "log_norm", "mean": [-0.002, -0.007, -0.03]}
    )
    fig = category_means_figure(summary)
    assert len(_visible_axes(fig)) == 1 and len(fig.axes[0].patches) == 3


def test_layer_profiles_figure(dd: pd.DataFrame) -> None:
    fig = layer_profiles_figure(dd, metrics=["log_norm", "alpha"], noise_floor={"alpha": 0.5})
    axes = _visible_axes(fig)
    assert len(axes) == 2
    cats = dd["category"].nunique()
    assert len([li for li in axes[0].get_lines() if li.get_label() in set(dd["category"])]) == cats
    assert len(axes[1].patches) == 1  # the noise-floor band


def test_run_metrics_figure(study: Path) -> None:
    runs = pd.read_parquet(study / "runs.parquet")
    fig = run_metrics_figure(runs)
    assert len(fig.axes) == 3
    assert len(fig.axes[0].patches) == runs["condition"].nunique()


def test_dose_response_figure(study: Path) -> None:
    runs = pd.read_parquet(study / "runs.parquet")
    fig = dose_response_figure(runs, metrics=["test_acc", "test_ece"], categories=["dp", "wd"])
    assert len(fig.axes) == 4
    assert fig.axes[1].get_xscale() == "log"  # weight decay on a log axis


def _fingerprint_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stored default comparison's axis_positions and fingerprint, by hand: two augmentations
    (one far beyond weight decay, one with no θ), two dropout and one weight-decay condition."""
    rows = [  # level, name, category, theta, ci_low, ci_high, signal, p_moved_adj
        ("condition", "divA", "div", 0.1, -0.2, 0.4, 3.0, 0.01),
        ("condition", "divB", "div", 2.5, 1.9, 3.1, 0.1, 0.40),
        ("condition", "dp0.1", "dp", -0.1, -0.3, 0.2, 2.0, 0.02),
        ("condition", "dp0.5", "dp", 0.2, -0.1, 0.5, 5.0, 0.001),
        ("condition", "wd0.01", "wd", float("nan"), float("nan"), float("nan"), 9.0, 0.001),
        ("category", "div", "div", 0.3, 0.0, 0.6, 1.5, 0.02),
        ("category", "dp", "dp", float("nan"), float("nan"), float("nan"), 3.0, 0.01),
        ("category", "wd", "wd", float("nan"), float("nan"), float("nan"), 9.0, 0.001),
    ]
    cols = ["level", "name", "category", "theta", "ci_low", "ci_high", "signal", "p_moved_adj"]
    fp = pd.DataFrame(rows, columns=cols)
    positions = pd.concat([fp.assign(metric="all"), fp.assign(metric="alpha", theta=0.5)])
    return positions.drop(columns="p_moved_adj"), fp


def test_axis_figure_places_every_condition_with_its_moved_result() -> None:
    from weightspace.report import axis_figure
    from weightspace.report.figures_axis import XLIM, axis_rows

    positions, fp = _fingerprint_tables()
    rows = axis_rows(fp, strengths={"dp0.1": 0.1, "dp0.5": 0.5})
    assert list(rows["label"]) == ["data diversity (2)", "divA", "divB", "dropout (2)", "dp0.1",
                                   "dp0.5", "weight decay (1)", "wd0.01"]  # fmt: skip
    fig = axis_figure(positions, fp)
    all_panel, alpha_panel, moved = fig.axes
    assert "tested" in all_panel.get_title() and "exploratory" in alpha_panel.get_title()
    labels = [t.get_text().strip() for t in all_panel.get_yticklabels()]
    assert labels == list(rows["label"])
    texts = [t.get_text() for t in moved.texts]
    assert texts[1].startswith("yes (p = 0.010)") and texts[2].startswith("no evidence (p = 0.400)")
    markers = [ln for ln in all_panel.lines if ln.get_marker() in ("o", "D")]
    xs = [float(ln.get_xdata()[0]) for ln in markers]
    assert max(xs) == XLIM[1]  # divB (θ = 2.5) drawn at the edge
    assert any(ln.get_marker() == ">" for ln in all_panel.lines)  # with an arrow
    hollow = [ln for ln in markers if ln.get_markerfacecolor() == "white"]
    assert len(hollow) == 1  # divB: no evidence that it moved
    assert "no θ: 1 rows" in [t.get_text() for t in all_panel.texts]  # wd0.01
    assert plt.get_fignums() == []


def test_fingerprint_map_figure() -> None:
    from weightspace.report import fingerprint_map_figure

    _, fp = _fingerprint_tables()
    fig = fingerprint_map_figure(fp)
    (ax,) = fig.axes
    points = [ln for ln in ax.lines if ln.get_marker() in ("o", "D")]
    assert len(points) == 5  # the rows with both θ and signal: divA, divB, dp0.1, dp0.5, div
    assert ax.get_yscale() == "symlog"


def test_diversity_and_synthetic_figures(study: Path) -> None:
    div = pd.read_parquet(study / "diversity.parquet")
    fig = diversity_figure(div)
    assert len(fig.axes) == 3
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections) == len(div)
    runs = pd.read_parquet(study / "runs.parquet")
    fig = synthetic_figure(runs)
    assert len(fig.axes) == 3
    modes = {t.get_text() for t in fig.axes[0].get_legend().get_texts()}
    assert modes == {"replace", "add"}


def test_synthetic_condition_names() -> None:
    from weightspace.compare.categories import parse_strength, synthetic_mode

    names = ["gen0.5", "gen0.3_add", "gen0.9_vf", "gen1.0_add_vf"]
    assert [synthetic_mode(n) for n in names] == [
        "replace", "add", "replace filtered", "add filtered"
    ]  # fmt: skip
    assert [parse_strength(n) for n in names] == [0.5, 0.3, 0.9, 1.0]


def test_synthetic_figure_prefers_study_columns() -> None:
    runs = pd.DataFrame({"condition": ["bs", "gen0.5", "gen0.5_vf"], "category": ["bs", "gen", "gen"],
                         "test_acc": [0.8, 0.7, 0.75], "synthetic_fraction": [None, 0.5, 0.5],
                         "synthetic_mode": [None, "add", "add"],
                         "synthetic_filtered": [None, False, True]})  # fmt: skip
    fig = synthetic_figure(runs)
    labels = {t.get_text() for t in fig.axes[0].get_legend().get_texts()}
    assert labels == {"add", "add filtered"}


def test_empty_inputs_give_explanatory_figure() -> None:
    fig = category_means_figure(pd.DataFrame())
    assert "no ΔΔ" in fig.axes[0].texts[0].get_text()


@pytest.mark.parametrize("compat", [None, "ww"])
def test_layer_eigenvalues_are_those_the_spectral_engine_fits(study: Path, compat) -> None:
    from weightspace.spectral import analyze

    path = next((study / "runs").glob("dp0.5__s0*")) / "weights.safetensors"
    table = analyze(path, compat=compat)
    ok = table[table["status"] == "success"]
    assert len(ok) >= 2
    for row in ok.itertuples():
        ev = layer_eigenvalues(path, row.longname, compat=compat == "ww")
        assert len(ev) == row.num_evals
        assert np.log10(ev.sum()) == pytest.approx(row.log_norm, abs=1e-9)
        assert np.log10(ev.max()) == pytest.approx(row.log_spectral_norm, abs=1e-9)


@pytest.mark.parametrize("compat", [None, "ww"])
def test_report_plots_exactly_the_fitted_eigenvalues(
    study: Path, compat, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the power-law fit's input, captured per layer, equals what the report plots, bit for bit
    from weightspace.spectral import analyze
    from weightspace.spectral import row as row_mod

    fitted: list[np.ndarray] = []
    real_fit = row_mod.fit_power_law

    def spy(evals: np.ndarray, **kw: object):
        fitted.append(np.array(evals))
        return real_fit(evals, **kw)

    monkeypatch.setattr(row_mod, "fit_power_law", spy)
    path = next((study / "runs").glob("dp0.5__s0*")) / "weights.safetensors"
    table = analyze(path, compat=compat, threads=1)
    ok = table[table["status"] == "success"]
    assert len(ok) >= 2 and any("conv" in n for n in ok["longname"])
    by_max = {float(ev[-1]): ev for ev in fitted}
    for row in ok.itertuples():
        ev = layer_eigenvalues(path, row.longname, compat=compat == "ww")
        np.testing.assert_array_equal(ev, by_max[float(row.lambda_max)])
