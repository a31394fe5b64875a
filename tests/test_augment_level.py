"""The augmentation magnitude level: set by the condition, written into the study tables, and
the dose that places augmentation conditions in the dose–response analysis."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from weightspace import store
from weightspace.compare.relations import dose_response_table
from weightspace.study import StudySpec, collect, run_study
from weightspace.study._fake import FakeRun
from weightspace.study.conditions import (
    augment_condition,
    combination_condition,
    dropout_condition,
)
from weightspace.train.modalities import MODALITIES

IMAGE, TEXT = MODALITIES["image"], MODALITIES["text"]


def test_a_condition_carries_the_level_of_its_augmentation():
    # the noise ladder: sigma 0.01 / 0.03 / 0.05 on [0, 1] pixels is level 1 / 3 / 5
    levels = [augment_condition(f"noise{k}", IMAGE).augment_level for k in (10, 30, 50)]
    assert levels == [1, 3, 5]
    assert augment_condition("rand", IMAGE).augment_level == 3  # magnitude 9 of 31 bins
    assert augment_condition("augmix", IMAGE).augment_level == 3  # severity 3
    elastic = {"name": "divEl7", "ops": [{"op": "elastic", "level": 7}]}
    assert augment_condition(elastic, IMAGE).augment_level == 7
    combo = combination_condition({"augment": "noise30", "dropout": 0.3}, IMAGE)
    assert combo.augment_level == 3
    for none in ("auto", "trivial"):  # no magnitude of their own
        assert math.isnan(augment_condition(none, IMAGE).augment_level)
    assert math.isnan(dropout_condition(0.3).augment_level)
    assert math.isnan(augment_condition("sr0.3", TEXT).augment_level)  # a text policy
    # the strength column keeps its meaning: the noise sigma, NaN for the others
    assert augment_condition("noise30", IMAGE).strength == 0.03
    assert math.isnan(augment_condition("rand", IMAGE).strength)
    # a custom policy of one noise op has its sigma as dose, as the named ones
    noise = {"name": "divN2", "ops": [{"op": "noise", "sigma": 0.02}]}
    assert augment_condition(noise, IMAGE).strength == 0.02
    assert augment_condition("sr0.3", TEXT).strength == 0.3  # the EDA alpha


SPEC = StudySpec(
    name="levels",
    seeds=(0,),
    conditions={"baseline": True, "dropout": [0.5], "augment": ["noise10", "auto", "rand"]},
)
EXPECTED = {"bs": math.nan, "dp0.5": math.nan, "divNoize10": 1.0, "divAuto": math.nan,
            "divRand": 3.0}  # fmt: skip


def _levels(table: pd.DataFrame) -> dict[str, float]:
    per = table.groupby("condition")["augment_level"].agg(["min", "max"])
    assert ((per["min"] == per["max"]) | per["min"].isna()).all()  # one level per condition
    return per["min"].to_dict()


def _same(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all(
        (math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a
    )


def test_the_study_tables_hold_the_level(tmp_path):
    study = tmp_path / "study"
    run_study(SPEC, study, workers=0, run_fn=FakeRun(), progress=False, analyze=False)
    runs = store.read_table(study / store.RUNS_TABLE)
    layers = store.read_table(study / store.LAYERS_TABLE)
    assert _same(_levels(runs), EXPECTED)
    assert _same(_levels(layers), EXPECTED)
    assert runs.set_index("condition")["strength"]["divNoize10"] == 0.01
    # rebuilt from the run directories alone (no spec): the same levels, from each config
    (study / store.SPEC_FILE).unlink()
    runs2, layers2 = collect(study)
    assert _same(_levels(runs2), EXPECTED)
    assert _same(_levels(layers2), EXPECTED)


def _dd_and_runs() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Five augmentation conditions at levels 1..5 whose ΔΔ alpha rises with the level, and
    one without a level; three seeds each; strength NaN for all (as for RandAugment)."""
    rng = np.random.default_rng(0)
    levels = {"divA": 1.0, "divB": 2.0, "divC": 3.0, "divD": 4.0, "divE": 5.0, "divAuto": np.nan}
    dd_rows, run_rows = [], []
    for cond, level in levels.items():
        for seed in range(3):
            alpha = (0.0 if np.isnan(level) else 0.1 * level) + rng.normal(0, 0.01)
            key = {"dataset": "d", "condition": cond, "category": "div", "seed": seed}
            dd_rows.append({**key, "layer_id": 0, "alpha": alpha})
            run_rows.append({**key, "strength": np.nan, "augment_level": level})
    return pd.DataFrame(dd_rows), pd.DataFrame(run_rows)


def test_dose_response_places_augmentation_by_level():
    dd, runs = _dd_and_runs()
    table = dose_response_table(dd, runs, ["alpha"], rng=np.random.default_rng(1), n_boot=200)
    row = table[(table["category"] == "div") & (table["metric"] == "alpha")].iloc[0]
    assert row["dose"] == "augment_level"
    # conditions are the points (five levels, three seeds each); divAuto has no level
    assert row["n"] == 5 and row["n_runs"] == 15
    assert row["rho"] > 0.9 and row["exact"] and row["p"] <= 0.05 and row["min_p"] < 0.05
    # without the level (e.g. WeightWatcher folders) these conditions have no dose
    table = dose_response_table(
        dd, runs.drop(columns="augment_level"), ["alpha"], rng=np.random.default_rng(1), n_boot=200
    )
    assert table.empty
