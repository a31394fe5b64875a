"""Does the diversity of a text study's training data predict its accuracy? (the text check)

For every condition of a finished text study: n-gram VS (the paper's unigram VS), embedding
VS, ρ and WVS of the texts that condition trained on (EDA draws of the baseline's real
training texts; see :mod:`weightspace.diversity.text`), next to its test accuracy and its
gain over the baseline. The embeddings are the *pretrained* encoder's mean-pooled sentence
embeddings (the model of the study before fine-tuning), so every condition is scored in
the same space. The correlations are those of the image check
(:func:`weightspace.compare.prediction.study_correlations`): Spearman ρ and Kendall τ of
each score with the accuracy gain across the data conditions, EDA conditions in the
``augmentation`` stratum and synthetic-data (``gen``) conditions in the ``synthetic``
stratum, the baseline in both; exact or permutation p-values, a minimum number of
conditions, intervals that carry the gain's standard error (seed spread, never below the
binomial SE on the test-set size) and Benjamini–Hochberg adjustment over the family.

Writes ``<study>/diversity.parquet`` and ``<study>/diversity_correlations.parquet`` with
the column names of the image check where the quantities coincide (``vs_emb``, ``rho``,
``wvs``, ``acc_gain`` …; ``vs_pixel`` is NaN, ``vs_ngram`` is added), so the report reads
them unchanged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from weightspace import store
from weightspace.compare.prediction import study_correlations
from weightspace.data.eda import make_text_augment
from weightspace.data.text import text_subset
from weightspace.diversity.text import TEXT_METRICS, score_text_augment, score_texts
from weightspace.errors import DataError
from weightspace.models.text import create_text_model
from weightspace.synthetic.text import build_text_training_set
from weightspace.train.config import RunConfig
from weightspace.train.text import max_length, predict_features, prepare_text_data

log = logging.getLogger(__name__)

SCORES = ("vs_ngram", "vs_emb", "rho", "wvs", "rho_unpaired", "wvs_unpaired", "mmd_sim")
TARGETS = ("acc_gain",)


def _config(study: Path, row: pd.Series) -> RunConfig:
    path = study / str(row["run_dir"]) / store.CONFIG_FILE
    if not path.is_file():
        raise DataError(f"{path} is missing; rerun the study to restore the run directory")
    data = store.read_json(path)
    data.pop("run_id", None)
    return RunConfig.from_dict(data)


def text_prediction_check(
    study_dir: str | Path,
    *,
    draws: int = 3,
    seed: int = 0,
    n: int | None = 500,
    n_boot: int = 1000,
    n_test: int | None = None,
    write: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """Score every condition of the text study in ``study_dir``.

    Returns (conditions, correlations, the baseline run directory). Called by
    :func:`weightspace.study.predict.prediction_check` for text studies. ``n_test``: the
    test-set size for the binomial SE of accuracy gains (default: that of the baseline's
    configuration).
    """
    study = Path(study_dir)
    paths = store.StudyPaths(study)
    if not paths.runs_table.is_file():
        raise DataError(f"{study} has no runs.parquet; run the study first")
    runs = store.read_study_table(paths.runs_table)
    runs = runs[store.usable(runs)]
    bs = runs[runs["category"] == "bs"]
    if bs.empty:
        raise DataError(f"{study} has no finished baseline run; the check measures gains from it")
    bs_row = bs.sort_values("seed").iloc[0]
    base_cfg = _config(study, bs_row)
    base_data = prepare_text_data(base_cfg)
    real = base_data.train_real
    if n_test is None:
        n_test = len(base_data.test)
    if n is not None and n < len(real):
        real = text_subset(real, n, seed=seed)
    torch.manual_seed(seed)
    encoder = create_text_model(
        base_cfg.model, num_classes=2, pretrained=base_cfg.pretrained
    ).eval()
    length = max_length(base_cfg)

    def embed(texts: Sequence[str]) -> np.ndarray:
        return predict_features(encoder, texts, length=length, batch_size=128).numpy()

    bs_acc = float(bs["test_acc"].mean())
    records = []
    for condition, rows in runs.groupby("condition", sort=False):
        cfg = _config(study, rows.iloc[0])
        aug = make_text_augment(cfg.augment)
        log.info("scoring text condition %s", condition)
        if cfg.synthetic is not None:  # the mix this condition builds from the scored texts
            mixed = build_text_training_set(cfg, real)
            s = {**score_texts(real.texts, mixed.texts, embed=embed), "draws": 1.0}
            s.update({f"{m}_std": 0.0 for m in TEXT_METRICS})
        else:
            s = score_text_augment(real.texts, augment=aug, embed=embed, draws=draws, seed=seed)
        acc = float(rows["test_acc"].mean())
        rec = {
            "condition": condition,
            "category": str(rows["category"].iloc[0]),
            "strength": float(rows["strength"].astype(float).mean()),
            "augment": cfg.augment if isinstance(cfg.augment, str) else repr(cfg.augment),
            "synthetic": cfg.synthetic is not None,
            "data_condition": bool(
                cfg.synthetic is not None or not aug.is_identity or condition == "bs"
            ),
            "n_seeds": len(rows),
            "test_acc": acc,
            "test_acc_std": float(rows["test_acc"].std(ddof=1)) if len(rows) > 1 else math.nan,
            "acc_gain": acc - bs_acc,
            "vs_pixel": math.nan,
            "encoder": f"{base_cfg.model} (pretrained)",
            "draws": int(s["draws"]),
            "n": len(real),
            "q": 1.0,
        }
        for m in TEXT_METRICS:
            rec[m], rec[f"{m}_std"] = s[m], s[f"{m}_std"]
        records.append(rec)
    table = pd.DataFrame.from_records(records)
    data_rows = table[table["data_condition"]]
    corrs = study_correlations(
        data_rows, SCORES, TARGETS, baseline=str(bs_row["condition"]),
        rng=np.random.default_rng(seed), n_boot=n_boot, n_test=n_test,
    )  # fmt: skip
    if write:
        store.write_table(study / store.DIVERSITY_TABLE, table)
        store.write_table(study / store.CORRELATIONS_TABLE, corrs)
    return table, corrs, study / str(bs_row["run_dir"])
