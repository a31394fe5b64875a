"""Text diversity: n-gram Vendi (recovers the number of distinct texts), embedding VS, WVS."""

from __future__ import annotations

import numpy as np
import pytest

from weightspace.data.eda import make_text_augment
from weightspace.diversity.text import (
    ngram_counts,
    ngram_vendi,
    per_class_text_vendi,
    score_text_augment,
)


def test_ngram_counts():
    c = ngram_counts(["a b a", "b c"], n=1)
    assert c.tolist() == [[2, 1, 0], [0, 1, 1]]
    assert ngram_counts(["a b a"], n=2).tolist() == [[1, 1]]  # "a b", "b a"


@pytest.mark.parametrize("k", [1, 3, 7])
def test_ngram_vendi_counts_disjoint_texts(k):
    # k texts with disjoint vocabularies, each repeated 5 times: VS = k exactly
    texts = [f"w{i}a w{i}b w{i}c" for i in range(k)] * 5
    assert ngram_vendi(texts) == pytest.approx(k, rel=1e-9)


def test_ngram_vendi_against_the_reference_definition():
    rng = np.random.default_rng(0)
    vocab = [f"t{i}" for i in range(30)]
    texts = [" ".join(rng.choice(vocab, size=8)) for _ in range(40)]
    x = ngram_counts(texts)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    lam = np.linalg.eigvalsh(x @ x.T / len(texts))
    lam = lam[lam > 1e-12]
    assert ngram_vendi(texts) == pytest.approx(np.exp(-(lam * np.log(lam)).sum()), rel=1e-9)


def _embed(texts):  # a deterministic bag-of-letters embedding, for speed
    out = np.zeros((len(texts), 26))
    for i, t in enumerate(texts):
        for ch in t.lower():
            if "a" <= ch <= "z":
                out[i, ord(ch) - 97] += 1
    return out + 1e-3


def test_augmentation_raises_ngram_vendi_and_lowers_rho():
    base = ["alpha bravo charlie delta"] * 20
    syn = {w: (w + "x", w + "y", w + "z") for w in "alpha bravo charlie delta".split()}
    aug = make_text_augment("sr0.5", synonyms=lambda w: syn.get(w, ()))
    clean = score_text_augment(base, augment=make_text_augment("none"), embed=_embed)
    noisy = score_text_augment(base, augment=aug, embed=_embed, draws=3, seed=1)
    assert clean["vs_ngram"] == pytest.approx(1.0) and clean["rho"] == pytest.approx(1.0)
    assert clean["wvs"] == pytest.approx(clean["vs_emb"])
    assert noisy["vs_ngram"] > 2.0 and noisy["rho"] < 1.0
    assert noisy["wvs"] == pytest.approx(noisy["vs_emb"] * noisy["rho"], rel=0.05)
    assert noisy["draws"] == 3 and noisy["vs_ngram_std"] >= 0


def test_per_class():
    out = per_class_text_vendi(["a b", "a b", "c d", "e f"], [0, 0, 1, 1], embed=_embed)
    assert out["vs_ngram"][0] == pytest.approx(1.0) and out["vs_ngram"][1] == pytest.approx(2.0)
    assert set(out["vs_emb"]) == {0, 1}
