"""Does a diversity score computed from the training data predict what training then shows?

This joins the diversity scores (:mod:`weightspace.diversity`) with the runs' outcomes and
spectral ΔΔ (:mod:`weightspace.compare`), and rebuilds each condition's training data and
the baseline model (:mod:`weightspace.train`), so it sits in the study stage, above all
three.

:func:`prediction_check` scores every condition of a finished study — VS (pixel and
embedding), ρ (paired and unpaired) and WVS of the data the condition trained on — and puts
them next to the condition's test accuracy, OOD accuracy and accuracy gain over the
baseline. It adds Gontijo-Lopes et al.'s two measures (2021, "Tradeoffs in data
augmentation"):

* ``affinity`` = clean baseline model's accuracy on augmented validation data / on clean
  validation data (1 for conditions that do not augment);
* ``gl_diversity`` = final training loss of the condition / of the baseline
  (``final_train_loss`` in ``runs.parquet``, averaged over seeds).

Next to them: the condition's spectral ΔΔ (mean over layers and seeds of
``weightspace.compare``'s ΔΔ of alpha, entropy, log_norm, log_spectral_norm) when the study
has a ``layers.parquet``.

Then it correlates each score with the accuracy gain across the *data* conditions (the
baseline and every condition that augments or adds synthetic data; dropout and weight decay
leave the data unchanged, so their scores equal the baseline's and they are left out of the
correlations, though listed in the table), augmentation and synthetic-data conditions apart
(:func:`weightspace.compare.prediction.study_correlations`: exact or permutation p, at
least five conditions, intervals carrying the gain's seed and binomial SE). Writes ``<study>/diversity.parquet`` (one row
per condition, columns in :data:`CONDITION_COLUMNS`) and
``<study>/diversity_correlations.parquet``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from weightspace import store
from weightspace.compare.categories import BASELINE
from weightspace.compare.delta import delta_delta, delta_table
from weightspace.compare.load import load_layers
from weightspace.compare.prediction import study_correlations
from weightspace.data.text import is_text_dataset
from weightspace.diversity.baseline import affinity
from weightspace.diversity.dataset import score_dataset
from weightspace.diversity.encoders import Encoder, _Features, get_encoder
from weightspace.errors import ConfigError, DataError, WeightspaceError
from weightspace.study.text_check import text_prediction_check
from weightspace.synthetic import build_training_set
from weightspace.train import RunConfig
from weightspace.train.data import prepare_data
from weightspace.train.restore import load_run

log = logging.getLogger(__name__)

DIVERSITY_TABLE = store.DIVERSITY_TABLE
CORRELATIONS_TABLE = store.CORRELATIONS_TABLE
SCORES = (
    "vs_emb", "vs_pixel", "rho", "wvs", "rho_unpaired", "wvs_unpaired", "mmd_sim",
    "affinity", "gl_diversity",
)  # fmt: skip
TARGETS = ("acc_gain", "ood_gain")
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


_FROM_SUMMARY = (
    "vs_pixel", "vs_pixel_std", "vs_emb", "vs_emb_std", "rho", "rho_std", "wvs", "wvs_std",
    "rho_unpaired", "rho_unpaired_std", "wvs_unpaired", "wvs_unpaired_std", "mmd_sim",
    "rho_pixel", "vs_emb_real",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class PredictionCheck:
    """``conditions``: one row per condition; ``correlations``: one row per (score, target)."""

    conditions: pd.DataFrame
    correlations: pd.DataFrame
    baseline_run: str


def _read_runs(study: Path) -> pd.DataFrame:
    path = store.StudyPaths(study).runs_table
    if not path.is_file():
        raise DataError(
            f"{study} has no runs.parquet; run `weightspace study run` (or collect) first, "
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


def _condition_config(study: Path, rows: pd.DataFrame) -> Any:
    first = rows.sort_values("seed").iloc[0]
    return RunConfig.from_dict(store.read_json(_run_dir(study, first) / store.CONFIG_FILE))


def spectral_dd(study: Path) -> pd.DataFrame:
    """Mean ΔΔ (over layers and seeds) of the main spectral metrics per condition.

    Index: condition; columns ``dd_<metric>``; the baseline's row is 0. Empty when the study
    has no ``layers.parquet`` or it cannot be compared (logged).
    """
    paths = store.StudyPaths(study)
    if paths.dd_table.is_file():  # saved by the study's comparison
        dd = store.read_study_table(paths.dd_table)
        metrics = [m for m in DD_METRICS if m in dd.columns]
        out = dd.groupby("condition")[metrics].mean()
        out.loc[BASELINE] = 0.0
        return out.rename(columns={m: f"dd_{m}" for m in metrics})
    if not paths.layers_table.is_file():
        return pd.DataFrame()
    try:
        layers = load_layers(study)
        metrics = [m for m in DD_METRICS if m in layers.columns]
        dd = delta_delta(delta_table(layers, metrics=metrics))
    except (WeightspaceError, KeyError, ValueError) as err:
        log.warning("spectral ΔΔ unavailable for %s: %s", study, err)
        return pd.DataFrame()
    out = dd.groupby("condition")[metrics].mean()
    out.loc[BASELINE] = 0.0
    return out.rename(columns={m: f"dd_{m}" for m in metrics})


def _std(col: pd.Series) -> float:
    return float(col.astype(float).std(ddof=1)) if len(col) > 1 else 0.0


def _augment_label(spec: Any) -> str:
    return spec if isinstance(spec, str) else json.dumps(list(spec), sort_keys=True)


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

    ``encoder``: ``baseline`` (default: the penultimate features of the study's baseline
    run with the lowest seed) or any other name of :data:`~weightspace.diversity.ENCODERS`.
    ``n_test``: test-set size, for the binomial SE of accuracy gains (seed spread only if
    None).
    """
    study = Path(study_dir)
    runs = _read_runs(study)
    if "dataset" in runs and is_text_dataset(str(runs["dataset"].iloc[0])):
        table, corrs, bs_path = text_prediction_check(
            study, draws=draws, seed=seed, n=n, n_boot=n_boot, n_test=n_test, write=write
        )
        return PredictionCheck(conditions=table, correlations=corrs, baseline_run=str(bs_path))
    bs = runs[runs["category"] == "bs"]
    if bs.empty:
        raise DataError(
            f"{study} has no finished baseline run (category 'bs'); the prediction check "
            "needs one (accuracy gains and the baseline encoder are measured against it)"
        )
    bs_row = bs.sort_values("seed").iloc[0]
    bs_dir = _run_dir(study, bs_row)
    base = load_run(bs_dir, device=device)
    real = base.data.train_real
    if encoder == "baseline":
        enc = Encoder(
            name="baseline",
            ident=f"baseline:{base.digest}",
            module=_Features(base.model),
            preprocess=base.preprocess,
            device=device,
        )
    else:
        enc = get_encoder(encoder, in_channels=real.in_channels, device=device, seed=seed)

    def mean_of(rows: pd.DataFrame, col: str) -> float:
        return float(rows[col].astype(float).mean()) if col in rows else math.nan

    bs_acc, bs_ood = mean_of(bs, "test_acc"), mean_of(bs, "ood_acc")
    bs_loss = mean_of(bs, "final_train_loss")
    records = []
    for condition, rows in runs.groupby("condition", sort=False):
        cfg = _condition_config(study, rows)
        is_synth = cfg.synthetic is not None
        augment = cfg.augment
        other = None
        cond_real = real
        if is_synth:
            data = prepare_data(cfg, synthesize=build_training_set)
            cond_real, other = data.train_real, data.train
        log.info("scoring condition %s", condition)
        res = score_dataset(
            cond_real, encoder=enc, augment=augment, other=other, draws=draws, seed=seed, n=n,
            q=q, device=device, cache=cache,
        )  # fmt: skip
        s = res.summary()
        aff, acc_aug, acc_clean = affinity(
            base, augment, draws=draws, seed=seed, max_images=affinity_images
        )
        loss = mean_of(rows, "final_train_loss")
        aug_label = _augment_label(augment)
        records.append(
            {
                "condition": condition,
                "category": str(rows["category"].iloc[0]),
                "strength": mean_of(rows, "strength"),
                "augment": aug_label,
                "synthetic": is_synth,
                "data_condition": bool(
                    is_synth or aug_label != "none" or condition == bs_row["condition"]
                ),
                "n_seeds": len(rows),
                "test_acc": mean_of(rows, "test_acc"),
                "test_acc_std": _std(rows["test_acc"]),
                "ood_acc": mean_of(rows, "ood_acc"),
                "acc_gain": mean_of(rows, "test_acc") - bs_acc,
                "ood_gain": mean_of(rows, "ood_acc") - bs_ood,
                "final_train_loss": loss,
                **{k: s[k] for k in _FROM_SUMMARY},
                "affinity": aff if not is_synth else math.nan,
                "val_acc_aug": acc_aug,
                "val_acc_clean": acc_clean,
                "gl_diversity": loss / bs_loss if bs_loss and bs_loss > 0 else math.nan,
                "encoder": res.encoder,
                "draws": res.draws,
                "n": res.n,
                "q": res.q,
            }
        )
    dd = spectral_dd(study)
    for rec in records:
        for m in DD_METRICS:
            col = f"dd_{m}"
            has = col in dd.columns and rec["condition"] in dd.index
            rec[col] = float(dd.loc[rec["condition"], col]) if has else math.nan
    table = pd.DataFrame.from_records(records, columns=list(CONDITION_COLUMNS))
    data_rows = table[table["data_condition"]]
    if len(data_rows) < 3:
        log.warning(
            "only %d data conditions (baseline + augmentation/synthetic); correlations need "
            ">= 3 and are NaN", len(data_rows),
        )  # fmt: skip
    corrs = study_correlations(
        data_rows, SCORES, TARGETS, baseline=str(bs_row["condition"]),
        rng=np.random.default_rng(seed), n_boot=n_boot, n_test=n_test,
    )  # fmt: skip
    if write:
        paths = store.StudyPaths(study)
        store.write_table(paths.diversity_table, table)
        store.write_table(paths.correlations_table, corrs)
    return PredictionCheck(conditions=table, correlations=corrs, baseline_run=str(bs_dir))


def check_columns(table: pd.DataFrame) -> None:
    """Raise if ``table`` lacks any of :data:`CONDITION_COLUMNS` (for readers of the file)."""
    missing = [c for c in CONDITION_COLUMNS if c not in table]
    if missing:
        raise ConfigError(f"diversity table lacks columns {missing}")


__all__ = ["CONDITION_COLUMNS", "PredictionCheck", "check_columns", "prediction_check"]
