"""Synthetic texts: the bigram generator, the naive Bayes filter, the image mixing rules, a run."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from text_fixtures import NEGATIVE, POSITIVE, tiny_bert_dir, write_corpus
from weightspace.data.text import TextSet
from weightspace.errors import DataError
from weightspace.synthetic import build_training_set
from weightspace.synthetic.mix import conform_texts, mix_texts
from weightspace.synthetic.text import bigram_generate, naive_bayes_confidence
from weightspace.train import RunConfig


def _real(repeat: int = 3) -> TextSet:
    texts = (POSITIVE + NEGATIVE) * repeat
    labels = torch.tensor(([1] * len(POSITIVE) + [0] * len(NEGATIVE)) * repeat)
    return TextSet(tuple(texts), labels, ("neg", "pos"), "toy")


def test_bigram_generator_uses_only_seen_transitions_of_its_class():
    real = _real()
    synth = bigram_generate(real, per_class=30, seed=0)
    assert torch.bincount(synth.labels).tolist() == [30, 30]
    for c, source in ((1, POSITIVE), (0, NEGATIVE)):
        seen = {(a, b) for t in source for a, b in zip(t.split(), t.split()[1:], strict=False)}
        for t, y in zip(synth.texts, synth.labels.tolist(), strict=True):
            if y == c:
                words = t.split()
                assert all(p in seen for p in itertools.pairwise(words))
    assert synth.texts == bigram_generate(real, per_class=30, seed=0).texts  # seeded


def test_naive_bayes_filter_recognises_the_classes():
    real = _real()
    conf = naive_bayes_confidence(real, real)
    assert (conf > 0.5).mean() > 0.9
    flipped = TextSet(real.texts, 1 - real.labels, real.classes, "flipped")
    assert (naive_bayes_confidence(real, flipped) == 0).mean() > 0.9


def test_mixing_rules_match_the_image_ones():
    real = _real(4)  # 48 texts, 24 per class
    synth = bigram_generate(real, per_class=40, seed=1)
    rep = mix_texts(real, synth, mode="replace", fraction=0.5, seed=0)
    assert len(rep.data) == len(real) and rep.synthetic.sum() == 24
    assert torch.equal(rep.data.labels, real.labels)  # same class at every position
    kept = ~rep.synthetic
    assert all(rep.data.texts[i] == real.texts[i] for i in np.flatnonzero(kept))
    add = mix_texts(real, synth, mode="add", fraction=0.25, seed=0)
    assert len(add.data) == 60 and add.data.texts[:48] == real.texts
    assert torch.bincount(add.data.labels[48:]).tolist() == [6, 6]


def test_imported_texts_are_matched_by_class_name(tmp_path):
    real = _real()
    pd.DataFrame({"text": ["good good", "bad bad"], "label": ["pos", "neg"]}).to_csv(
        tmp_path / "gen.csv", index=False
    )
    from weightspace.data.text import read_text_file

    synth = conform_texts(read_text_file(tmp_path / "gen.csv"), real)
    assert synth.labels.tolist() == [1, 0]  # "pos" is class 1 of the real data
    other = TextSet(("x", "y"), torch.tensor([0, 1]), ("neg", "spam"), "other")
    with pytest.raises(DataError, match="not classes of the real data"):
        conform_texts(other, real)


def test_gen_conditions_run_end_to_end(tmp_path):
    from weightspace.train import run

    corpus = write_corpus(tmp_path / "c.csv", repeat=5)
    bert = tiny_bert_dir(tmp_path)
    base = RunConfig(dataset=f"text:{corpus}", model="bert", pretrained=str(bert), max_length=16,
                     epochs=1, batch_size=8, threads=1)  # fmt: skip
    for syn in ({"mode": "replace", "fraction": 0.5},
                {"mode": "add", "fraction": 0.5, "filtered": True}):  # fmt: skip
        cfg = base.replace(synthetic=syn)
        from weightspace.train.text import prepare_text_data

        data = prepare_text_data(cfg, synthesize=build_training_set)
        n_real = len(data.train_real)
        assert len(data.train) == (
            n_real if syn["mode"] == "replace" else n_real + round(0.5 * n_real)
        )
        assert data.train.texts != data.train_real.texts
        metrics = run(cfg, tmp_path / syn["mode"], progress=False, synthesize=build_training_set)
        assert 0.0 <= metrics["test_acc"] <= 1.0


def test_quality_table_in_an_embedding_space():
    from weightspace.synthetic.text import text_quality_table

    def embed(texts):  # bag of letters: a cheap deterministic sentence embedding
        out = np.zeros((len(texts), 26))
        for i, t in enumerate(texts):
            for ch in t:
                if "a" <= ch <= "z":
                    out[i, ord(ch) - 97] += 1
        return out

    real = _real(4)
    table = text_quality_table(real, real, embed=embed).set_index("class")
    assert list(table.index) == ["neg", "pos", "all"]
    assert table.loc["all", "precision"] == 1.0 and table.loc["all", "coverage"] == 1.0
    assert table.loc["pos", "vs_ngram_real"] == pytest.approx(
        table.loc["pos", "vs_ngram_synthetic"]
    )
    synth = bigram_generate(real, per_class=40, seed=0)
    q = text_quality_table(real, synth, embed=embed).set_index("class")
    assert 0.0 <= q.loc["all", "precision"] <= 1.0 and q.loc["all", "n_synthetic"] == 80
