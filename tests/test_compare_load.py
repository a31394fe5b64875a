"""Loading layer tables: both CSV naming conventions, studies, pooling, categories, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from weightspace.compare import (
    CategoryRules,
    delta_delta,
    delta_table,
    load_layers,
    load_runs,
    parse_strength,
)
from weightspace.compare.simulate import PlantedStudy, planted_tables, write_planted_study
from weightspace.errors import ConfigError, DataError

COLUMNS = ["layer_id", "name", "longname", "alpha", "entropy", "log_norm", "log_spectral_norm",
           "stable_rank", "has_esd", "status"]  # fmt: skip


def ww_table(rng: np.random.Generator, n: int = 5, *, first_id: int = 1) -> pd.DataFrame:
    """A small WeightWatcher-like table (one row per layer)."""
    return pd.DataFrame(
        {
            "layer_id": np.arange(n) * 3 + first_id,
            "name": "Linear",
            "longname": [f"net.{i}" for i in range(n)],
            "alpha": rng.uniform(2, 6, n),
            "entropy": rng.uniform(0.8, 1, n),
            "log_norm": rng.normal(1, 0.1, n),
            "log_spectral_norm": rng.normal(0, 0.1, n),
            "stable_rank": rng.uniform(5, 20, n),
            "has_esd": True,
            "status": "success",
        }
    )[COLUMNS]


def write_pair(folder, before_name, after_name, rng, *, shift=0.1, n=5, first_id=1):
    folder.mkdir(parents=True, exist_ok=True)
    before = ww_table(rng, n, first_id=first_id)
    after = before.copy()
    for m in ("alpha", "entropy", "log_norm", "log_spectral_norm", "stable_rank"):
        after[m] = before[m] + shift * rng.standard_normal(n)
    before.to_csv(folder / before_name, index=False)
    after.to_csv(folder / after_name, index=False)


def test_ft_prefix_convention(tmp_path):
    rng = np.random.default_rng(0)
    for cond in ("bs", "dp0.1", "wd1e-05", "divAuto"):
        write_pair(tmp_path / "rn", f"{cond}.csv", f"ft_{cond}.csv", rng)
    layers = load_layers(tmp_path / "rn")
    assert set(layers["dataset"]) == {"rn"}
    assert layers.groupby("condition")["category"].first().to_dict() == {
        "bs": "bs", "dp0.1": "dp", "wd1e-05": "wd", "divAuto": "div"
    }  # fmt: skip
    assert set(layers["snapshot"]) == {"before", "after"}
    assert layers["position"].max() == 4 and (layers["seed"] == 0).all()


def test_tag_suffix_convention_strips_the_tag(tmp_path):
    rng = np.random.default_rng(1)
    for cond in ("bs", "dp0.5", "divNoize10"):
        write_pair(tmp_path / "cifar10", f"{cond}_fl.csv", f"{cond}_fl_ft.csv", rng)
    layers = load_layers(tmp_path / "cifar10")
    assert sorted(layers["condition"].unique()) == ["bs", "divNoize10", "dp0.5"]


def test_folder_of_datasets_pools_and_keeps_dataset(tmp_path):
    rng = np.random.default_rng(2)
    for dataset, tag in (("cars", "int"), ("cifar10", "fl")):
        for cond in ("bs", "dp0.1", "wd0.001"):
            write_pair(
                tmp_path / "clip" / dataset, f"{cond}_{tag}.csv", f"{cond}_{tag}_ft.csv", rng
            )
    (tmp_path / "clip" / "cars" / "run-metrics").mkdir()
    layers = load_layers(tmp_path / "clip")
    assert sorted(layers["dataset"].unique()) == ["cars", "cifar10"]
    assert layers.groupby("dataset")["condition"].nunique().to_dict() == {"cars": 3, "cifar10": 3}


def test_subfolders_without_baseline_join_the_one_with_it(tmp_path):
    """The paper's BERT layout: regularizers/ holds bs, eda/ and synthetic-add/ do not."""
    rng = np.random.default_rng(3)
    for cond in ("bs", "dp0.1", "divgen01"):
        write_pair(tmp_path / "bert" / "regularizers", f"{cond}.csv", f"ft_{cond}.csv", rng)
    write_pair(tmp_path / "bert" / "eda", "div_rd_03.csv", "ft_div_rd_03.csv", rng)
    write_pair(tmp_path / "bert" / "synthetic-add", "divgen01.csv", "ft_divgen01.csv", rng)
    layers = load_layers(tmp_path / "bert")
    assert set(layers["dataset"]) == {"bert"}
    assert sorted(layers["condition"].unique()) == [
        "bs", "divgen01", "dp0.1", "eda/div_rd_03", "synthetic-add/divgen01"
    ]  # fmt: skip
    cats = layers.groupby("condition")["category"].first()
    assert cats["eda/div_rd_03"] == "div" and cats["synthetic-add/divgen01"] == "div"
    dd = delta_delta(delta_table(layers))
    assert "synthetic-add/divgen01" in set(dd["condition"])


def test_dataset_without_baseline_is_a_clear_error(tmp_path):
    rng = np.random.default_rng(4)
    write_pair(tmp_path / "eda", "div_rd_03.csv", "ft_div_rd_03.csv", rng)
    layers = load_layers(tmp_path / "eda")
    with pytest.raises(DataError, match="no baseline"):
        delta_delta(delta_table(layers))


def test_position_alignment_outer_with_missing_as_zero(tmp_path):
    """The paper aligns rows by position, outer, a missing cell counting as 0."""
    rng = np.random.default_rng(5)
    folder = tmp_path / "t"
    write_pair(folder, "bs.csv", "ft_bs.csv", rng, n=4)
    before = ww_table(rng, 4)
    after = ww_table(rng, 5)  # one more row after training
    before.to_csv(folder / "dp0.1.csv", index=False)
    after.to_csv(folder / "ft_dp0.1.csv", index=False)
    delta = delta_table(load_layers(folder), align="position")
    extra = delta[(delta["condition"] == "dp0.1")].sort_values("layer_id").iloc[-1]
    assert extra["alpha"] == pytest.approx(after["alpha"].iloc[-1])  # after − 0


def test_frozen_layers_are_dropped(tmp_path):
    rng = np.random.default_rng(6)
    folder = tmp_path / "t"
    before = ww_table(rng, 4)
    after = before.copy()
    after.loc[2:, "alpha"] += 0.5  # only layers 2 and 3 trained
    folder.mkdir()
    for cond in ("bs", "dp0.1"):
        before.to_csv(folder / f"{cond}.csv", index=False)
        after.to_csv(folder / f"ft_{cond}.csv", index=False)
    delta = delta_table(load_layers(folder))
    assert sorted(delta["layer_id"].unique()) == [7, 10]


def test_study_directory_keeps_its_categories_and_drops_failed_runs(tmp_path):
    spec = PlantedStudy(conditions={"dp0.5": 0.1, "gen0.5": 0.1, "combo_a": 0.1}, seeds=(0, 1))
    write_planted_study(tmp_path / "study", spec, rng=np.random.default_rng(0))
    runs = pd.read_parquet(tmp_path / "study" / "runs.parquet")
    runs.loc[runs["run_id"] == "gen0.5__s1", "status"] = "failed"
    runs.to_parquet(tmp_path / "study" / "runs.parquet", index=False)
    layers = load_layers(tmp_path / "study")
    assert set(layers["dataset"]) == {"study"}
    assert "gen0.5__s1" not in set(layers["run_id"])
    assert layers.groupby("condition")["category"].first().to_dict() == {
        "bs": "bs", "combo_a": "combo", "dp0.5": "dp", "gen0.5": "gen"
    }  # fmt: skip
    loaded_runs = load_runs(tmp_path / "study")
    assert loaded_runs is not None and "gen0.5__s1" not in set(loaded_runs["run_id"])
    assert loaded_runs.set_index("run_id").loc["dp0.5__s0", "strength"] == 0.5


def test_two_studies_pool_as_two_datasets(tmp_path):
    spec = PlantedStudy(conditions={"dp0.5": 0.1}, seeds=(0,))
    for name in ("a", "b"):
        write_planted_study(tmp_path / name, spec, rng=np.random.default_rng(1))
    layers = load_layers([tmp_path / "a", tmp_path / "b"])
    assert sorted(layers["dataset"].unique()) == ["a", "b"]
    with pytest.raises(DataError, match="duplicate"):
        load_layers([tmp_path / "a", tmp_path / "a"])


def test_category_rules_are_configurable():
    rules = CategoryRules.from_mapping({"aug": "div", "mix": "combo"})
    assert rules.category("augFlip") == "div" and rules.category("mix1") == "combo"
    assert rules.category("dp0.1") == "dp" and rules.category("divgen01") == "div"
    assert rules.category("gen0.5_add") == "gen"
    strict = CategoryRules(default=None)
    with pytest.raises(ConfigError, match="matches no category rule"):
        strict.category("mystery")
    with pytest.raises(ConfigError, match="kind one of"):
        CategoryRules(rules=(("suffix", "x", "y"),))


def test_custom_rules_override_study_categories():
    spec = PlantedStudy(conditions={"dp0.5": 0.1}, seeds=(0,))
    layers, _, _ = planted_tables(spec, rng=np.random.default_rng(0))
    from weightspace.compare import normalize_layers

    rules = CategoryRules(rules=(("prefix", "bs", "bs"), ("prefix", "dp", "reg")))
    assert set(normalize_layers(layers, category_rules=rules)["category"]) == {"bs", "reg"}


@pytest.mark.parametrize(
    ("name", "strength"),
    [("dp0.3", 0.3), ("wd1e-05", 1e-5), ("wd0.005", 0.005), ("gen0.5_add", 0.5), ("gen1.0", 1.0)],
)
def test_parse_strength(name, strength):
    assert parse_strength(name) == pytest.approx(strength)


def test_parse_strength_none():
    assert np.isnan(parse_strength("divAuto")) and np.isnan(parse_strength("bs"))


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_layers(tmp_path / "missing")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(DataError, match="is a file"):
        load_layers(tmp_path / "f.txt")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"no layers\.parquet"):
        load_layers(empty)


def test_reads_what_the_study_writes(tmp_path):
    """End to end with the study machinery (fake runs): failed runs are left out, the
    dataset key is the study folder, and every default table is filled."""
    from weightspace.compare import compare
    from weightspace.study import StudySpec, run_study
    from weightspace.study._fake import FakeRun

    spec = StudySpec(
        name="fake",
        seeds=(0, 1),
        conditions={"baseline": True, "dropout": [0.1, 0.3, 0.5], "weight_decay": [1e-4, 1e-3]},
    )
    study = tmp_path / "fake"
    run_study(spec, study, workers=1, run_fn=FakeRun(fail=("dp0.1",)), progress=False,
              analyze=False)  # fmt: skip
    layers = load_layers(study)
    assert set(layers["dataset"]) == {"fake"}
    assert "dp0.1" not in set(layers["condition"])
    result = compare(study, n_perm=50, n_boot=50)
    floor = result.tables["noise_floor"]
    assert (floor["n_baseline_seeds"] == 2).all()
    fingerprint = result.tables["fingerprint"]
    assert set(fingerprint.loc[fingerprint["level"] == "condition", "name"]) == {
        "dp0.3",
        "dp0.5",
        "wd0.0001",
        "wd0.001",
    }
    assert "outcome" in result.tables["spectral_vs_accuracy"].columns


def test_missing_longname_falls_back_to_a_unique_layer_name():
    from weightspace.compare import normalize_layers

    spec = PlantedStudy(conditions={"dp0.1": 0.1}, seeds=(0,), n_layers=4)
    layers, _, _ = planted_tables(spec, rng=np.random.default_rng(0))
    no_long = layers.drop(columns="longname")
    named = normalize_layers(no_long.assign(name=no_long["layer_id"].map(lambda i: f"fc{i}")))
    assert sorted(named["longname"].unique()) == ["fc1", "fc3", "fc5", "fc7"]
    generic = normalize_layers(no_long)  # name "Linear" repeats: use the id
    assert sorted(generic["longname"].unique()) == ["layer1", "layer3", "layer5", "layer7"]
