"""The paper protocol reproduces every number the authors published (EXPECTED.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from weightspace.compare import compare, load_layers, paper_tables

# RN18-from-scratch tables ship with the tests (see tests/data/paper-tables/*/README.md);
# the larger CLIP tables are read from shared/ beside the checkout when present.
TABLES = Path(__file__).resolve().parents[2] / "shared" / "reference" / "paper-tables"
RN18 = Path(__file__).resolve().parent / "data" / "paper-tables" / "rn18-cifar10-scratch"
needs_clip = pytest.mark.skipif(
    not (TABLES / "clip-rn50").is_dir(),
    reason=f"published CLIP tables not found at {TABLES / 'clip-rn50'} (shared/ beside the "
    "checkout)",
)

# EXPECTED.md, "Expected results — rn18-cifar10-scratch/":
# metric: (F, p, {pair: (t, p)})
EXPECTED = {
    "alpha": (
        0.3248,
        0.7240,
        {"div-dp": (0.7501, 0.4576), "div-wd": (0.3435, 0.7330), "dp-wd": (-0.4806, 0.6334)},
    ),
    "entropy": (
        0.0441,
        0.9569,
        {"div-dp": (-0.2604, 0.7959), "div-wd": (-0.2173, 0.8291), "dp-wd": (0.0705, 0.9441)},
    ),
    "log_norm": (
        6.9424,
        0.0019,
        {"div-dp": (0.7400, 0.4636), "div-wd": (3.6617, 0.0007), "dp-wd": (2.3959, 0.0214)},
    ),
    "log_spectral_norm": (
        6.4808,
        0.0028,
        {"div-dp": (-1.1959, 0.2388), "div-wd": (3.0755, 0.0038), "dp-wd": (3.1859, 0.0028)},
    ),
    "stable_rank": (
        2.4062,
        0.0988,
        {"div-dp": (1.5048, 0.1402), "div-wd": (-0.3449, 0.7320), "dp-wd": (-1.7102, 0.0950)},
    ),
}
MEANS = {
    ("alpha", "div"): 1.7344,
    ("alpha", "dp"): -3.0488,
    ("alpha", "wd"): -0.1592,
    ("log_norm", "div"): -0.0022021,
    ("log_norm", "dp"): -0.0070027,
    ("log_norm", "wd"): -0.0304217,
    ("log_spectral_norm", "div"): 0.0016197,
    ("log_spectral_norm", "dp"): 0.0197250,
    ("log_spectral_norm", "wd"): -0.0290776,
}


@pytest.fixture(scope="module")
def rn18_tables():
    return paper_tables(load_layers(RN18))


def _decimals(value: float) -> int:
    text = repr(value)
    return len(text.split(".")[1]) if "." in text else 0


@pytest.mark.parametrize("metric", list(EXPECTED))
def test_rn18_anova_and_ttests_match_published(rn18_tables, metric):
    f, p, pairs = EXPECTED[metric]
    anova = rn18_tables["anova"].set_index("metric").loc[metric]
    assert round(anova["F"], 4) == pytest.approx(f, abs=1e-9)
    assert round(anova["p"], 4) == pytest.approx(p, abs=1e-9)
    assert (anova["df_between"], anova["df_within"]) == (2, 60)  # 3 categories × 21 layers
    ttests = rn18_tables["ttests"]
    for pair, (t, pt) in pairs.items():
        a, b = pair.split("-")
        row = ttests[(ttests.metric == metric) & (ttests.a == a) & (ttests.b == b)].iloc[0]
        assert round(row["t"], 4) == pytest.approx(t, abs=1e-9), pair
        assert round(row["p"], 4) == pytest.approx(pt, abs=1e-9), pair


def test_rn18_category_means_match_published(rn18_tables):
    means = rn18_tables["category_means"].set_index(["metric", "category"])["mean"]
    for key, expected in MEANS.items():
        assert round(means.loc[key], _decimals(expected)) == pytest.approx(expected, abs=1e-12), key


def test_rn18_structure(rn18_tables):
    dd = rn18_tables["delta_delta"]
    # 20 non-baseline conditions × 21 trained layers; no baseline rows in ΔΔ.
    assert len(dd) == 20 * 21
    assert set(dd["category"]) == {"div", "dp", "wd"}
    assert dd.groupby("category")["condition"].nunique().to_dict() == {"div": 10, "dp": 4, "wd": 6}
    classifier = rn18_tables["classifier"]
    assert set(classifier["layer"]) == {"fc"}
    assert classifier.groupby("category")["n_conditions"].first().to_dict() == {
        "div": 10,
        "dp": 4,
        "wd": 6,
    }
    corr = rn18_tables["correlations"]
    assert corr["r"].between(-1, 1).all() and (corr["n_layers"] == 21).all()


@needs_clip
def test_clip_rn50_pooled_by_layer_name_matches_headline():
    """SPEC.md §2: CLIP RN50, log_norm ANOVA F = 23.8, p < 0.001; div–dp p = 0.68."""
    result = compare(TABLES / "clip-rn50", protocol="paper")
    assert result.settings["datasets"] == ["cars", "cifar10", "cifar100", "domainnet34"]
    anova = result.tables["anova"].set_index("metric")
    assert round(anova.loc["log_norm", "F"], 1) == pytest.approx(23.8)
    assert anova.loc["log_norm", "p"] < 0.001
    assert anova.loc["log_spectral_norm", "p"] < 0.001
    ttests = result.tables["ttests"].set_index(["metric", "a", "b"])
    assert round(ttests.loc[("log_norm", "div", "dp"), "p"], 2) == pytest.approx(0.68)
    assert ttests.loc[("log_norm", "div", "wd"), "p"] < 0.001
    # α and entropy separate nothing.
    assert anova.loc["alpha", "p"] > 0.05 and anova.loc["entropy", "p"] > 0.05
    # Pooled by name: 60 trained visual-tower layers; the classifier is one of them.
    profiles = result.tables["layer_profiles"]
    assert profiles["longname"].nunique() == 60
    assert (profiles.loc[profiles.longname == "classifier", "n_datasets"] == 4).all()


@needs_clip
def test_pooling_is_by_name_not_by_position():
    """Layer ids may differ between datasets (e.g. the classifier's); pooling by name must
    give the same statistics when one dataset's classifier id changes."""
    layers = load_layers(TABLES / "clip-rn50")
    shifted = layers.copy()
    mask = (shifted.dataset == "cars") & (shifted.longname == "classifier")
    shifted.loc[mask, "layer_id"] = 999
    a, b = paper_tables(layers), paper_tables(shifted)
    assert a["anova"]["F"].to_numpy() == pytest.approx(b["anova"]["F"].to_numpy(), rel=1e-12)
    row = b["layer_profiles"].query("longname == 'classifier' and category == 'wd'")
    assert len(row) == 1 and row["n_datasets"].iloc[0] == 4


def test_result_does_not_depend_on_row_or_file_order():
    layers = load_layers(RN18)
    shuffled = layers.sample(frac=1.0, random_state=0)  # positions are kept per row
    a, b = paper_tables(layers), paper_tables(shuffled)
    for name in ("anova", "ttests"):
        cols = ["F", "p"] if name == "anova" else ["t", "p"]
        assert a[name][cols].to_numpy() == pytest.approx(b[name][cols].to_numpy(), rel=1e-10)
