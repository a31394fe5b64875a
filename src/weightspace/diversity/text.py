"""Diversity of a text training set: n-gram Vendi, embedding Vendi, ρ and WVS.

- ``vs_ngram``: the Vendi score of the texts' n-gram count vectors under the cosine kernel
  (n = 1: the paper's unigram VS; Friedman & Dieng's n-gram kernel). Words are lower-cased
  runs of letters, digits and apostrophes.
- ``vs_emb``: the Vendi score of sentence embeddings (an ``embed`` callable: texts →
  (N, D) array; the study check uses the pretrained encoder's mean-pooled embeddings);
  ``vs_emb_real``: of the real texts.
- ``rho``: the paper's paired similarity of the (augmented) embeddings to the real ones;
  ``wvs`` = ``vs_emb · rho``; ``rho_unpaired``, ``wvs_unpaired``, ``mmd_sim`` as for images
  (:func:`weightspace.diversity.weighted_vendi`).

An EDA policy is random: :func:`score_text_augment` draws ``draws`` augmented copies (draw k
seeded with ``seed + k``) and reports each score's mean and standard deviation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from weightspace.config import check_int
from weightspace.diversity.vendi import per_class_vendi, vendi_score
from weightspace.diversity.weighted import weighted_vendi

EmbedFn = Callable[[Sequence[str]], np.ndarray]
TEXT_METRICS = ("vs_ngram", "vs_ngram_real", "vs_emb", "vs_emb_real", "rho", "wvs",
                "rho_unpaired", "wvs_unpaired", "mmd_sim")  # fmt: skip
_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def ngram_counts(texts: Sequence[str], *, n: int = 1) -> np.ndarray:
    """Counts (N, V) float64 of the word n-grams of each text; V = distinct n-grams seen."""
    check_int("n", n, minimum=1)
    grams = []
    for t in texts:
        w = words(t)
        grams.append([" ".join(w[i : i + n]) for i in range(len(w) - n + 1)])
    vocab = {g: j for j, g in enumerate(sorted({g for gs in grams for g in gs}))}
    out = np.zeros((len(texts), max(1, len(vocab))), dtype=np.float64)  # (N, V)
    for i, gs in enumerate(grams):
        for g in gs:
            out[i, vocab[g]] += 1.0
    return out


def ngram_vendi(texts: Sequence[str], *, n: int = 1, q: float = 1.0) -> float:
    """Vendi score of ``texts`` under the cosine kernel on n-gram counts (texts without any
    n-gram are dropped)."""
    return vendi_score(ngram_counts(texts, n=n), q=q, zero_rows="drop")


def score_texts(
    real: Sequence[str], other: Sequence[str], *, embed: EmbedFn | None, n: int = 1, q: float = 1.0
) -> dict[str, float]:
    """One draw: the scores of ``other`` (augmented / synthetic texts) against ``real``."""
    out = {k: math.nan for k in TEXT_METRICS}
    out["vs_ngram"] = ngram_vendi(other, n=n, q=q)
    out["vs_ngram_real"] = ngram_vendi(real, n=n, q=q)
    if embed is not None:
        wv = weighted_vendi(embed(real), embed(other), q=q)
        out.update(
            vs_emb=wv.vs_emb, vs_emb_real=wv.vs_real, rho=wv.rho, wvs=wv.wvs,
            rho_unpaired=wv.rho_unpaired, wvs_unpaired=wv.wvs_unpaired, mmd_sim=wv.mmd_sim,
        )  # fmt: skip
    return out


def score_text_augment(
    texts: Sequence[str],
    *,
    augment: Any,
    embed: EmbedFn | None = None,
    draws: int = 3,
    seed: int = 0,
    n: int = 1,
    q: float = 1.0,
) -> dict[str, float]:
    """Mean (``<metric>``) and std (``<metric>_std``) of each score over ``draws`` EDA draws.

    ``augment``: a :class:`weightspace.data.eda.TextAugment` (or anything with
    ``is_identity`` and ``__call__(texts, rng)``). Without augmentation: one draw, ρ = 1.
    """
    check_int("draws", draws, minimum=1)
    real = list(texts)
    k = 1 if augment.is_identity else draws
    per = []
    for d in range(k):
        other = real if augment.is_identity else augment(real, np.random.default_rng(seed + d))
        per.append(score_texts(real, other, embed=embed, n=n, q=q))
    out: dict[str, float] = {"draws": float(k)}
    for m in TEXT_METRICS:
        vals = np.array([p[m] for p in per], dtype=np.float64)
        out[m] = float(vals.mean())
        out[f"{m}_std"] = float(vals.std(ddof=1)) if k > 1 else 0.0
    return out


def per_class_text_vendi(
    texts: Sequence[str], labels: Any, *, embed: EmbedFn | None = None, n: int = 1
) -> dict[str, dict[int, float]]:
    """Per-class n-gram VS (and embedding VS with ``embed``): ``{"vs_ngram": {label: VS}}``."""
    out = {"vs_ngram": per_class_vendi(ngram_counts(texts, n=n), labels)}
    if embed is not None:
        out["vs_emb"] = per_class_vendi(embed(texts), labels)
    return out
