"""A text run and a tiny text study end to end, on a random-weights BERT (seconds, CPU)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from text_fixtures import tiny_bert_dir, write_corpus
from weightspace.config import config_hash
from weightspace.errors import ConfigError
from weightspace.train import RunConfig, run
from weightspace.train.config import NEW_FIELD_DEFAULTS, NOT_IN_RUN_ID, TEXT_FIELD_DEFAULTS
from weightspace.train.text import prepare_text_data, text_batch_source


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("text")
    return write_corpus(root / "corpus.csv", repeat=5), tiny_bert_dir(root)


def _config(files, **kw) -> RunConfig:
    corpus, bert = files
    base = dict(dataset=f"text:{corpus}", model="bert", pretrained=str(bert), max_length=16,
                epochs=2, batch_size=8, lr=1e-3, val_fraction=0.1, threads=1)  # fmt: skip
    return RunConfig(**{**base, **kw})


def test_eda_batches_are_drawn_afresh_each_epoch_and_seeded(files):
    cfg = _config(files, augment="sr0.5+rs0.5")
    data = prepare_text_data(cfg)
    from weightspace.models.text import create_text_model

    model = create_text_model("bert", num_classes=2, pretrained=cfg.pretrained)
    source = text_batch_source(model, data.train, cfg)
    idx = [torch.arange(8)]
    e1 = next(source(idx, 1))[0]
    assert torch.equal(e1, next(source(idx, 1))[0])  # same (seed, epoch, batch): same texts
    assert not torch.equal(e1, next(source(idx, 2))[0])  # next epoch: new augmentations
    clean = text_batch_source(model, data.train, _config(files))
    x, y = next(clean(idx, 1))
    assert x.shape[:2] == (8, 2) and torch.equal(y, data.train.labels[:8])


def test_text_run_writes_the_same_run_directory(files, tmp_path):
    cfg = _config(files, augment="rd0.3", dropout=0.1, weight_decay=1e-4)
    metrics = run(cfg, tmp_path / "run", progress=False)
    assert 0.0 <= metrics["test_acc"] <= 1.0 and metrics["max_length"] == 16
    assert 0.0 <= metrics["text_truncated_train"] <= 1.0
    for name in ("spectra_before.parquet", "spectra_after.parquet", "history.parquet",
                 "weights.safetensors", "config.json", "metrics.json"):  # fmt: skip
        assert (tmp_path / "run" / name).is_file()
    before = pd.read_parquet(tmp_path / "run" / "spectra_before.parquet").set_index("longname")
    after = pd.read_parquet(tmp_path / "run" / "spectra_after.parquet").set_index("longname")
    q = "encoder.encoder.layer.0.attention.self.query"
    assert before.loc[q, "log_norm"] != after.loc[q, "log_norm"]  # the encoder trained
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["augment"] == "rd0.3" and saved["max_length"] == 16


def test_image_names_are_refused_for_text(files):
    from weightspace.train.modalities import check_names

    with pytest.raises(ConfigError, match="unknown text model"):
        check_names(_config(files, model="cnn-small"))
    with pytest.raises(ConfigError, match="EDA op"):
        check_names(_config(files, augment="auto"))


def test_text_fields_keep_image_run_ids():
    base = RunConfig()
    assert base.replace(max_length=32).run_id() != base.run_id()
    assert base.replace(freeze_embeddings=True).run_id() != base.run_id()
    legacy = base.to_dict()
    for k in (*NOT_IN_RUN_ID, *NEW_FIELD_DEFAULTS, *TEXT_FIELD_DEFAULTS):
        legacy.pop(k)
    assert config_hash(legacy) == base.run_id()


def test_tiny_text_study_end_to_end(files, tmp_path):
    from weightspace.study import StudySpec, run_study

    corpus, bert = files
    spec = StudySpec.from_dict({
        "study": {"name": "tiny-text", "seeds": [0]},
        "data": {"dataset": f"text:{corpus}", "val_fraction": 0.1},
        "model": {"name": "bert", "pretrained": str(bert), "max_length": 16},
        "train": {"epochs": 1, "batch_size": 8, "lr": 1e-3},
        "conditions": {"baseline": True, "dropout": [0.3], "weight_decay": [1e-3],
                       "augment": ["sr0.3", "rd0.5"]},
    })  # fmt: skip
    result = run_study(spec, tmp_path / "study", workers=0, threads=1, progress=False)
    assert (result.total, result.done, result.failed) == (5, 5, 0), result.runs.error.tolist()
    runs = pd.read_parquet(tmp_path / "study" / "runs.parquet").set_index("condition")
    assert sorted(runs.index) == ["bs", "div_rd_05", "div_sr_03", "dp0.3", "wd0.001"]
    assert runs.loc["div_sr_03", "category"] == "div"
    assert runs.loc["div_sr_03", "strength"] == 0.3
    layers = pd.read_parquet(tmp_path / "study" / "layers.parquet")
    assert layers.longname.str.contains("attention.self.value").any()
    assert (tmp_path / "study" / "compare").is_dir()
    assert (tmp_path / "study" / "report.html").is_file()


def test_text_prediction_check_on_the_tiny_study(files, tmp_path):
    from weightspace.study import StudySpec, run_study
    from weightspace.study.predict import prediction_check

    corpus, bert = files
    spec = StudySpec.from_dict({
        "study": {"name": "tiny-text-div", "seeds": [0]},
        "data": {"dataset": f"text:{corpus}", "val_fraction": 0.1},
        "model": {"name": "bert", "pretrained": str(bert), "max_length": 16},
        "train": {"epochs": 1, "batch_size": 8, "lr": 1e-3},
        "conditions": {"baseline": True, "dropout": [0.3],
                       "augment": ["rd0.3", "rs0.5", "rd0.5+rs0.5"],
                       "synthetic": {"mode": "add", "fractions": [0.5]}},
    })  # fmt: skip
    study = tmp_path / "study"
    run_study(spec, study, workers=0, threads=1, progress=False, analyze=False)
    check = prediction_check(study, draws=2, n_boot=200)  # scored by the text modality
    table, corrs = check.conditions.set_index("condition"), check.correlations
    assert "bs__s0__" in check.baseline_run
    assert table.loc["bs", "rho"] == pytest.approx(1.0)
    assert table.loc["bs", "wvs"] == pytest.approx(table.loc["bs", "vs_emb"])
    assert table.loc["div_rs_05_rd_05", "rho"] < 1.0
    assert not table.loc["dp0.3", "data_condition"]
    assert table.loc["gen0.5_add", "synthetic"] and table.loc["gen0.5_add", "rho"] < 1.0
    assert set(corrs["score"]) >= {"vs_ngram", "wvs"} and (study / "diversity.parquet").is_file()
    # the image check's columns and strata: EDA with the baseline, gen with the baseline
    from weightspace.compare.prediction import EXPLORATORY_FAMILY, HEADLINE_FAMILY, STUDY_COLUMNS

    assert list(corrs.columns) == STUDY_COLUMNS
    wvs = corrs[corrs["score"] == "wvs"].set_index("stratum")
    assert wvs.loc["augmentation", "n"] == 4  # bs + 3 EDA; dropout leaves the data as it is
    assert wvs.loc["synthetic", "n"] == 2  # bs + gen0.5_add
    # fewer than the minimum number of conditions: no correlation, no p-value
    assert wvs["spearman"].isna().all() and wvs["p"].isna().all()
    headline = (corrs["stratum"] == "augmentation") & (corrs["target"] == "acc_gain") & corrs[
        "score"].isin(["vs_emb", "wvs"])  # fmt: skip
    assert headline.sum() == 2  # the pre-specified pair, even where it cannot be computed
    assert (corrs.loc[headline, "family"] == HEADLINE_FAMILY).all()
    assert (corrs.loc[~headline, "family"] == EXPLORATORY_FAMILY).all()
    for _, family in corrs.groupby("family"):
        assert (family["n_family"] == family["p"].notna().sum()).all()
    assert corrs.loc[headline, "power"].isna().all()  # no power for a test that was not run
