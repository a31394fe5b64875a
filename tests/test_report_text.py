"""The report's text section on a tiny text study (random-weights BERT, seconds on CPU)."""

from __future__ import annotations

from html import escape
from pathlib import Path

import pandas as pd
import pytest

from text_fixtures import tiny_bert_dir, write_corpus
from weightspace.compare.conclude import prediction_sentence
from weightspace.report import build_report
from weightspace.report._inputs import load_tables
from weightspace.report.text import eda_outcomes, is_text_study

PUBLISHED = Path(__file__).parent / "data" / "paper-tables" / "rn18-cifar10-scratch"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from weightspace.study import StudySpec, run_study
    from weightspace.study.predict import prediction_check

    root = tmp_path_factory.mktemp("text-report")
    corpus, bert = write_corpus(root / "corpus.csv", repeat=5), tiny_bert_dir(root)
    spec = StudySpec.from_dict({
        "study": {"name": "tiny-text-report", "seeds": [0, 1]},
        "data": {"dataset": f"text:{corpus}", "val_fraction": 0.1},
        "model": {"name": "bert", "pretrained": str(bert), "max_length": 16},
        "train": {"epochs": 1, "batch_size": 8, "lr": 1e-3},
        "conditions": {"baseline": True, "dropout": [0.3], "weight_decay": [1e-3],
                       "augment": ["sr0.3", "rd0.3", "rd0.5"],
                       "synthetic": {"mode": "add", "fractions": [0.5]}},
    })  # fmt: skip
    out = root / "study"
    with pytest.MonkeyPatch.context() as env:  # the study stores the published tables' protocol
        env.setenv("WEIGHTSPACE_BERT_TABLES", str(PUBLISHED))
        result = run_study(spec, out, workers=0, threads=1, progress=False)
    assert result.failed == 0, result.runs.error.tolist()
    prediction_check(out, draws=1, n=None, n_boot=100)
    return out


def test_eda_outcomes_per_op_and_strength(study):
    runs = pd.read_parquet(study / "runs.parquet")
    table = eda_outcomes(runs).set_index("condition")
    assert list(table.index) == ["bs", "div_sr_03", "div_rd_03", "div_rd_05"]  # EDA op order
    assert table.loc["div_rd_05", "op"] == "rd" and table.loc["div_rd_05", "strength"] == 0.5
    rd = runs[runs["condition"] == "div_rd_05"]["test_acc"]
    assert table.loc["div_rd_05", "n_seeds"] == 2
    assert table.loc["div_rd_05", "test_acc"] == pytest.approx(rd.mean())
    assert table.loc["div_rd_05", "test_acc_std"] == pytest.approx(rd.std(ddof=1))
    bs = runs[runs["condition"] == "bs"]["test_acc"].mean()
    assert table.loc["div_sr_03", "gain"] == pytest.approx(table.loc["div_sr_03", "test_acc"] - bs)


def test_text_section_in_the_report(study, tmp_path):
    assert is_text_study(load_tables(study))
    assert (study / "compare" / "published" / "compare.json").is_file()
    html_path = build_report(study, out=tmp_path / "r.html", formats=("png",))
    html = html_path.read_text(encoding="utf-8")
    assert 'id="text"' in html and "EDA outcomes" in html
    assert (tmp_path / "figures" / "text_eda.png").is_file()
    corr = pd.read_parquet(study / "diversity_correlations.parquet")
    assert escape(prediction_sentence(corr), quote=False) in html
    assert "paper protocol statistics" in html and "published: ANOVA F (p)" in html
    assert "ours: div–wd t (p)" in html
    assert "generator quality, seed 0" in html and "generator quality, seed 1" in html
    assert "built-in text generator samples, seed 0" in html


def test_text_generator_quality_written_into_the_study(study):
    from weightspace import store
    from weightspace.synthetic.settings import SyntheticSettings
    from weightspace.synthetic.text import builtin_text_samples
    from weightspace.train import RunConfig
    from weightspace.train.text import prepare_text_data

    runs = pd.read_parquet(study / "runs.parquet")
    row = runs[(runs["condition"] == "gen0.5_add") & (runs["seed"] == 1)].iloc[0]
    cfg = store.read_json(study / row["run_dir"] / "config.json")
    cfg.pop("run_id", None)
    cfg = RunConfig.from_dict(cfg)
    real = prepare_text_data(cfg.replace(synthetic=None)).train_real
    synth = builtin_text_samples(SyntheticSettings.from_mapping(cfg.synthetic), real, seed=1)
    quality = pd.read_csv(study / "synthetic" / "s1" / "quality.csv").set_index("class")
    assert list(quality.index) == ["neg", "pos", "all"]
    assert quality.loc["all", "n_synthetic"] == len(synth)
    assert 0.0 <= quality.loc["all", "precision"] <= 1.0
    samples = pd.read_csv(study / "synthetic" / "s1" / "samples.csv")
    assert set(samples["text"]) <= set(synth.texts) and set(samples["class"]) == {"neg", "pos"}


def test_published_tables_absent(study, tmp_path):
    import shutil

    bare = tmp_path / "study"
    shutil.copytree(study, bare, ignore=shutil.ignore_patterns("published"))
    html = build_report(bare, out=tmp_path / "r.html", formats=(), protocols=("paper",)
                        ).read_text(encoding="utf-8")  # fmt: skip
    assert "Published BERT tables not shown: no comparison of them is stored" in html
    assert "--protocol paper --out" in html and "paper protocol statistics" not in html


def test_image_study_has_no_text_section(tmp_path):
    from report_fixtures import make_study

    root = make_study(tmp_path / "img", seeds=(0,), gen=False)
    assert not is_text_study(load_tables(root))
    html = build_report(root, out=tmp_path / "r.html", formats=()).read_text(encoding="utf-8")
    assert 'id="text"' not in html


def test_prediction_sentence_gives_the_interval_and_power_of_the_headline_family():
    corr = pd.DataFrame({"stratum": ["augmentation", "augmentation", "synthetic"],
                         "score": ["vs_emb", "wvs", "wvs"], "target": ["acc_gain"] * 3,
                         "n": [6, 6, 3], "spearman": [0.6, 0.9, float("nan")],
                         "spearman_lo": [-0.2, 0.4, float("nan")],
                         "spearman_hi": [0.95, 0.99, float("nan")],
                         "p": [0.21, 0.01, float("nan")], "p_adj": [0.21, 0.02, float("nan")],
                         "power": [0.12, 0.83, float("nan")],
                         "family": ["prediction (Holm)", "prediction (Holm)",
                                    "exploratory (BH)"]})  # fmt: skip
    text = prediction_sentence(corr)
    assert text.startswith("Across the 6 augmentation conditions (the baseline included): ")
    assert (
        "the embedding Vendi score shows no evidence that it predicts the accuracy gain "
        "(Spearman ρ = 0.60, 95% CI -0.20 to 0.95; Holm p = 0.210, power 12%)"
    ) in text
    assert (
        "the weighted Vendi score (VS × ρ) predicts the accuracy gain (Spearman ρ = 0.90, "
        "95% CI 0.40 to 0.99; Holm p = 0.020, power 83%)"
    ) in text
    assert "synthetic" not in text  # exploratory rows are not the headline
    assert "power n/a" in prediction_sentence(corr.drop(columns="power"))
    assert prediction_sentence(None).startswith("The diversity prediction check was not run")
