"""Does a diversity score computed from the training data predict what training then shows?

This joins the diversity scores (:mod:`weightspace.diversity`) with the runs' outcomes and
spectral ΔΔ (:mod:`weightspace.compare`), and rebuilds each condition's training data and
the encoder (:mod:`weightspace.train`), so it sits in the study stage, above all three.

:func:`prediction_check` is one check for every modality. It scores every condition of a
finished study — what the diversity scores are is the modality's (:data:`SCORERS`, keyed by
:attr:`weightspace.train.modality.Modality.name`):

* images (:mod:`~weightspace.study.diversity_image`): VS (pixel and embedding), ρ (paired and
  unpaired) and WVS of the data the condition trained on, in the baseline run's feature space
  (or another encoder), plus Gontijo-Lopes et al.'s ``affinity`` (2021, "Tradeoffs in data
  augmentation": the clean baseline model's accuracy on augmented validation data / on clean
  validation data; 1 for conditions that do not augment);
* texts (:mod:`~weightspace.study.diversity_text`): n-gram VS (the paper's unigram VS),
  embedding VS, ρ and WVS in the pretrained encoder's sentence-embedding space;

and puts them next to the condition's test accuracy, OOD accuracy, accuracy gain over the
baseline, ``gl_diversity`` = final training loss of the condition / of the baseline
(``final_train_loss`` in ``runs.parquet``, averaged over seeds) and its spectral ΔΔ (mean
over layers and seeds of ``weightspace.compare``'s ΔΔ of alpha, entropy, log_norm,
log_spectral_norm; ``dd.parquet``, else computed from ``layers.parquet``).

Then it correlates each score with the gains across the *data* conditions (the baseline and
every condition that augments or adds synthetic data; dropout and weight decay leave the data
unchanged, so their scores equal the baseline's and they are left out of the correlations,
though listed in the table), augmentation and synthetic-data conditions apart
(:func:`weightspace.compare.prediction.study_correlations`: exact or permutation p, at least
five conditions, intervals carrying the gain's seed and binomial SE). Writes
``<study>/diversity.parquet`` (one row per condition: :data:`CONDITION_COLUMNS`, then the
modality's own score columns) and ``<study>/diversity_correlations.parquet``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from weightspace import store
from weightspace.compare.delta import delta_delta, delta_table
from weightspace.compare.load import load_layers
from weightspace.compare.prediction import study_correlations
from weightspace.errors import ConfigError, DataError, WeightspaceError
from weightspace.study.diversity_image import ImageScorer
from weightspace.study.diversity_text import TextScorer
from weightspace.study.scoring import CheckOptions, ConditionScorer
from weightspace.train import RunConfig
from weightspace.train.modalities import modality_of
from weightspace.vocabulary import BASELINE, Category

log = logging.getLogger(__name__)

CONDITION_COLUMNS = (
    "condition", "category", "strength", "augment", "synthetic", "data_condition", "n_seeds",
    "test_acc", "test_acc_std", "ood_acc", "acc_gain", "ood_gain", "final_train_loss",
    "vs_pixel", "vs_pixel_std", "vs_emb", "vs_emb_std", "rho", "rho_std", "wvs", "wvs_std",
    "rho_unpaired", "rho_unpaired_std", "wvs_unpaired", "wvs_unpaired_std", "mmd_sim",
    "rho_pixel", "vs_emb_real", "affinity", "val_acc_aug", "val_acc_clean", "gl_diversity",
    "dd_alpha", "dd_entropy", "dd_log_norm", "dd_log_spectral_norm",
    "encoder", "draws", "n", "q",
)  # fmt: skip
DD_METRICS = ("alpha", "entropy", "log_norm", "log_spectral_norm")


#: modality name -> its scorer, built as ``scorer(baseline_dir, baseline_config, options)``
SCORERS: dict[str, Callable[[Path, RunConfig, CheckOptions], ConditionScorer]] = {
    "image": ImageScorer,
    "text": TextScorer,
}


@dataclasses.dataclass(frozen=True)
class PredictionCheck:
    """``conditions``: one row per condition; ``correlations``: one row per (score, target)."""

    conditions: pd.DataFrame
    correlations: pd.DataFrame
    baseline_run: str


def prediction_check(
    study_dir: str | Path,
    *,
    encoder: str = "baseline",
    draws: int = 3,
    seed: int = 0,
    n: int | None = 2000,
    q: float = 1.0,
    n_boot: int = 1000,
    n_test: int | None = None,
    affinity_images: int | None = 2000,
    device: str = "cpu",
    cache: bool | str | Path = True,
    write: bool = True,
) -> PredictionCheck:
    """Score every condition of the study in ``study_dir`` and correlate with accuracy gain.

    ``encoder`` (images): ``baseline`` (default: the penultimate features of the study's
    baseline run with the lowest seed) or any other name of
    :data:`~weightspace.diversity.ENCODERS`. ``n``: at most this many real training examples
    are scored. ``n_test``: test-set size, for the binomial SE of accuracy gains (default:
    the modality's — the text test set's size; seed spread only for images).
    """
    study = Path(study_dir)
    runs = _read_runs(study)
    bs = runs[runs["category"] == Category.BS.value]
    if bs.empty:
        raise DataError(
            f"{study} has no finished baseline run (category 'bs'); the prediction check "
            "needs one (accuracy gains and the baseline encoder are measured against it)"
        )
    bs_row = bs.sort_values("seed").iloc[0]
    bs_dir = _run_dir(study, bs_row)
    bs_config = _run_config(bs_dir)
    options = CheckOptions(encoder, draws, seed, n, q, affinity_images, device, cache)
    scorer = _scorer(bs_dir, bs_config, options)
    baseline = str(bs_row["condition"])
    records = []
    for condition, rows in runs.groupby("condition", sort=False):
        config = _run_config(_run_dir(study, rows.sort_values("seed").iloc[0]))
        log.info("scoring condition %s", condition)
        record = {**_outcomes(condition, rows, bs), **_labels(config), **scorer.score(config)}
        record["data_condition"] = record.pop("data_changed") or condition == baseline
        records.append(record)
    table = _with_spectral_dd(pd.DataFrame.from_records(records), spectral_dd(study))
    table = table[[*CONDITION_COLUMNS, *(c for c in table if c not in CONDITION_COLUMNS)]]
    corrs = _correlations(table, scorer, baseline=baseline, seed=seed, n_boot=n_boot, n_test=n_test)
    if write:
        paths = store.StudyPaths(study)
        store.write_table(paths.diversity_table, table)
        store.write_table(paths.correlations_table, corrs)
    return PredictionCheck(conditions=table, correlations=corrs, baseline_run=str(bs_dir))


def _scorer(baseline_dir: Path, baseline: RunConfig, options: CheckOptions) -> ConditionScorer:
    modality = modality_of(baseline.dataset)
    if modality.name not in SCORERS:
        raise DataError(
            f"the prediction check has no diversity scores for {modality.name} data (only "
            f"{', '.join(SCORERS)}); dataset {baseline.dataset!r} cannot be checked"
        )
    return SCORERS[modality.name](baseline_dir, baseline, options)


def _read_runs(study: Path) -> pd.DataFrame:
    path = store.StudyPaths(study).runs_table
    if not path.is_file():
        raise DataError(
            f"{study} has no runs.parquet; run `weightspace study SPEC --out DIR` (or `weightspace study --collect --out DIR`) "
            "or pass the folder of a finished study"
        )
    runs = store.read_study_table(path)
    missing = {"condition", "category", "seed", "test_acc"} - set(runs.columns)
    if missing:
        raise DataError(f"{path} lacks columns {sorted(missing)}; is it a weightspace study?")
    runs = runs[store.usable(runs)]
    if runs.empty:
        raise DataError(f"{path} holds no finished runs; nothing to check")
    return runs


def _run_dir(study: Path, row: pd.Series) -> Path:
    if isinstance(row.get("run_dir"), str) and row["run_dir"]:
        return study / row["run_dir"]
    hits = [
        run.path
        for run in store.iter_runs(store.StudyPaths(study).runs_dir)
        if run.condition == row["condition"] and run.seed == int(row["seed"]) and run.path.is_dir()
    ]
    if not hits:
        raise DataError(f"no run directory for {row['condition']} seed {row['seed']} in {study}")
    return hits[0]


def _run_config(run_dir: Path) -> RunConfig:
    path = run_dir / store.CONFIG_FILE
    if not path.is_file():
        raise DataError(f"{path} is missing; rerun the study to restore the run directory")
    return RunConfig.from_dict(store.read_json(path), where=str(path))


def _mean(rows: pd.DataFrame, col: str) -> float:
    return float(rows[col].astype(float).mean()) if col in rows else math.nan


def _std(rows: pd.DataFrame, col: str) -> float:
    """Sample standard deviation over seeds (0 for one seed, as for one draw)."""
    return float(rows[col].astype(float).std(ddof=1)) if len(rows) > 1 else 0.0


def _augment_label(spec: Any) -> str:
    return spec if isinstance(spec, str) else json.dumps(list(spec), sort_keys=True)


def _outcomes(condition: Any, rows: pd.DataFrame, bs: pd.DataFrame) -> dict[str, Any]:
    """The condition's outcomes over its seeds, and its gains over the baseline ``bs``."""
    loss, bs_loss = _mean(rows, "final_train_loss"), _mean(bs, "final_train_loss")
    return {
        "condition": condition,
        "category": str(rows["category"].iloc[0]),
        "strength": _mean(rows, "strength"),
        "n_seeds": len(rows),
        "test_acc": _mean(rows, "test_acc"),
        "test_acc_std": _std(rows, "test_acc"),
        "ood_acc": _mean(rows, "ood_acc"),
        "acc_gain": _mean(rows, "test_acc") - _mean(bs, "test_acc"),
        "ood_gain": _mean(rows, "ood_acc") - _mean(bs, "ood_acc"),
        "final_train_loss": loss,
        "gl_diversity": loss / bs_loss if bs_loss and bs_loss > 0 else math.nan,
    }


def _labels(config: RunConfig) -> dict[str, Any]:
    """What the condition does to the data (dropout and weight decay leave it unchanged)."""
    label = _augment_label(config.augment)
    synthetic = config.synthetic is not None
    return {"augment": label, "synthetic": synthetic, "data_changed": synthetic or label != "none"}


def _with_spectral_dd(table: pd.DataFrame, dd: pd.DataFrame) -> pd.DataFrame:
    """The conditions with their mean ΔΔ (NaN where the study has none) and every column of
    :data:`CONDITION_COLUMNS` (NaN where the modality has no such score)."""
    for m in DD_METRICS:
        col = f"dd_{m}"
        has = col in dd.columns
        table[col] = [
            float(dd.loc[c, col]) if has and c in dd.index else math.nan for c in table["condition"]
        ]
    for col in CONDITION_COLUMNS:
        if col not in table:
            table[col] = math.nan
    return table


def _correlations(
    table: pd.DataFrame,
    scorer: ConditionScorer,
    *,
    baseline: str,
    seed: int,
    n_boot: int,
    n_test: int | None,
) -> pd.DataFrame:
    data_rows = table[table["data_condition"].astype(bool)]
    if len(data_rows) < 3:
        log.warning(
            "only %d data conditions (baseline + augmentation/synthetic); correlations need "
            ">= 3 and are NaN", len(data_rows),
        )  # fmt: skip
    return study_correlations(
        data_rows, scorer.scores, scorer.targets, baseline=baseline,
        rng=np.random.default_rng(seed), n_boot=n_boot,
        n_test=n_test if n_test is not None else scorer.n_test,
    )  # fmt: skip


def spectral_dd(study: Path) -> pd.DataFrame:
    """Mean ΔΔ (over layers and seeds) of the main spectral metrics per condition.

    Index: condition; columns ``dd_<metric>``; the baseline's row is 0. From the study's
    ``dd.parquet`` (saved by its comparison); else computed from ``layers.parquet`` as the
    comparison does, layers matched by layer id; empty when the study has neither or its
    layers cannot be compared (logged).
    """
    paths = store.StudyPaths(study)
    if paths.dd_table.is_file():
        dd = store.read_study_table(paths.dd_table)
        metrics = [m for m in DD_METRICS if m in dd.columns]
    elif paths.layers_table.is_file():
        try:
            layers = load_layers(study)
            metrics = [m for m in DD_METRICS if m in layers.columns]
            dd = delta_delta(delta_table(layers, metrics=metrics, align="layer_id"))
        except (WeightspaceError, KeyError, ValueError) as err:
            log.warning("spectral ΔΔ unavailable for %s: %s", study, err)
            return pd.DataFrame()
    else:
        return pd.DataFrame()
    out = dd.groupby("condition")[metrics].mean()
    out.loc[BASELINE] = 0.0
    return out.rename(columns={m: f"dd_{m}" for m in metrics})


def check_columns(table: pd.DataFrame) -> None:
    """Raise if ``table`` lacks any of :data:`CONDITION_COLUMNS` (for readers of the file)."""
    missing = [c for c in CONDITION_COLUMNS if c not in table]
    if missing:
        raise ConfigError(f"diversity table lacks columns {missing}")


__all__ = [
    "CONDITION_COLUMNS",
    "SCORERS",
    "CheckOptions",
    "ConditionScorer",
    "PredictionCheck",
    "check_columns",
    "prediction_check",
    "spectral_dd",
]
