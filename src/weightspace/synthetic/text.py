"""Synthetic texts for the ``gen`` conditions: a built-in offline generator or an import.

Sources (``RunConfig.synthetic`` ``source``):

- ``builtin``: a class-conditional word-bigram language model fitted on the run's real
  training texts (per class: counts of word → next word, with start and end markers), sampled
  with the run's seed; ``oversample`` × the largest real class texts per class. It knows only
  transitions it has seen, so its texts recombine the class's phrases: locally fluent,
  globally loose — a cheap, offline stand-in for the paper's LLM-generated tweets.
- a path: generated texts with labels (what a user brings from an LLM) — a ``.csv``,
  ``.jsonl`` or ``.parquet`` file with ``text`` and ``label`` columns, class names as in the
  real data (:func:`weightspace.data.text.read_text_file`).

Filtered conditions keep the texts that a multinomial naive Bayes classifier fitted on the
real texts (unigram counts, add-one smoothing) assigns to their intended class with
probability ≥ τ. Mixing follows the image rules (:func:`weightspace.synthetic.mix.mix_texts`).
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from weightspace import store
from weightspace.data.text import TextSet, read_text_file
from weightspace.diversity.text import per_class_text_vendi
from weightspace.errors import ConfigError
from weightspace.models.text import create_text_model
from weightspace.synthetic.mix import TextMix, conform_texts, mix_texts
from weightspace.synthetic.quality import quality_table
from weightspace.synthetic.settings import SyntheticSettings
from weightspace.train.config import RunConfig
from weightspace.train.text import max_length, predict_features, prepare_text_data

log = logging.getLogger(__name__)

_START, _END = "\x02", "\x03"


def _tokens(text: str) -> list[str]:
    return text.lower().split()


def bigram_generate(real: TextSet, *, per_class: int, seed: int, max_words: int = 60) -> TextSet:
    """``per_class`` texts per class from a word-bigram model of that class's real texts."""
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    labels: list[int] = []
    y = real.labels.numpy()
    for c in range(real.num_classes):
        nxt: dict[str, Counter[str]] = defaultdict(Counter)
        for i in np.flatnonzero(y == c):
            words = [_START, *_tokens(real.texts[i]), _END]
            for a, b in itertools.pairwise(words):
                nxt[a][b] += 1
        table = {
            w: (list(cnt), np.array(list(cnt.values()), dtype=np.float64)) for w, cnt in nxt.items()
        }
        made = 0
        while made < per_class:
            word, out = _START, list[str]()
            while len(out) < max_words:
                options, weights = table[word]
                word = options[int(rng.choice(len(options), p=weights / weights.sum()))]
                if word == _END:
                    break
                out.append(word)
            if out:
                texts.append(" ".join(out))
                labels.append(c)
                made += 1
    return TextSet(tuple(texts), torch.tensor(labels, dtype=torch.int64), real.classes, "bigram")


def naive_bayes_confidence(real: TextSet, synth: TextSet) -> np.ndarray:
    """P(intended class | text) under multinomial NB fitted on ``real`` (0 where not arg-max)."""
    k = real.num_classes
    vocab: dict[str, int] = {}
    for t in real.texts:
        for w in _tokens(t):
            vocab.setdefault(w, len(vocab))
    counts = np.ones((k, len(vocab) + 1))  # add-one smoothing; last column: unseen words
    y = real.labels.numpy()
    for t, c in zip(real.texts, y, strict=True):
        for w in _tokens(t):
            counts[c, vocab[w]] += 1
    log_p = np.log(counts / counts.sum(1, keepdims=True))  # (K, V+1)
    log_prior = np.log(np.bincount(y, minlength=k) / len(y))
    out = np.zeros(len(synth))
    for i, (t, c) in enumerate(zip(synth.texts, synth.labels.tolist(), strict=True)):
        idx = [vocab.get(w, len(vocab)) for w in _tokens(t)]
        score = log_prior + log_p[:, idx].sum(1)  # (K,)
        post = np.exp(score - score.max())
        post /= post.sum()
        out[i] = post[c] if int(post.argmax()) == c else 0.0
    return out


def text_quality_table(
    real: TextSet, synth: TextSet, *, embed: Callable[[Sequence[str]], np.ndarray], k: int = 5
) -> pd.DataFrame:
    """Quality of synthetic texts as for images: one row per class and an ``all`` row.

    Precision/recall/density/coverage and per-class Vendi scores of the sentence embeddings
    ``embed(texts)`` (:func:`weightspace.synthetic.quality.quality_table`), plus the
    per-class n-gram Vendi scores of the real and synthetic texts (``vs_ngram_*``).
    """
    table = quality_table(
        embed(real.texts), real.labels.numpy(), embed(synth.texts), synth.labels.numpy(),
        real.classes, k=k,
    )  # fmt: skip
    real_ng = per_class_text_vendi(real.texts, real.labels.numpy())["vs_ngram"]
    syn_ng = per_class_text_vendi(synth.texts, synth.labels.numpy())["vs_ngram"]
    table["vs_ngram_real"] = [real_ng.get(c, np.nan) for c in range(real.num_classes)] + [
        float(np.mean(list(real_ng.values())))
    ]
    table["vs_ngram_synthetic"] = [syn_ng.get(c, np.nan) for c in range(real.num_classes)] + [
        float(np.mean(list(syn_ng.values())))
    ]
    return table


def builtin_text_samples(settings: SyntheticSettings, real: TextSet, *, seed: int) -> TextSet:
    """The built-in generator's texts for ``real``: ``oversample`` × the largest class, per class."""
    per_class = int(np.ceil(settings.oversample * np.bincount(real.labels.numpy()).max()))
    return bigram_generate(real, per_class=per_class, seed=seed)


def build_text_mix(settings: SyntheticSettings, real: TextSet, *, seed: int) -> TextMix:
    """The synthetic source of ``settings`` (built-in or imported), filtered, mixed with ``real``."""
    if settings.generator:
        raise ConfigError(
            "synthetic.generator settings configure the image generator; the text generator "
            f"has none (got {dict(settings.generator)}); remove them"
        )
    if settings.source == "builtin":
        synth = builtin_text_samples(settings, real, seed=seed)
    else:
        synth = conform_texts(read_text_file(settings.source), real)
    if settings.filtered:
        conf = naive_bayes_confidence(real, synth)
        synth = synth.select(np.flatnonzero(conf >= settings.tau), name=f"{synth.name}[vf]")
        log.info("text filter tau=%.2f kept %d synthetic texts", settings.tau, len(synth))
    return mix_texts(
        real, synth, mode=settings.mode, fraction=settings.fraction, seed=seed,
        shortfall=settings.filtered,
    )  # fmt: skip


def build_text_training_set(config: RunConfig, real_train: TextSet) -> TextSet:
    """The training set of a text run whose ``config.synthetic`` is set."""
    if config.synthetic is None:
        raise ConfigError("build_text_training_set was given a run without a synthetic table")
    result = build_text_mix(
        SyntheticSettings.from_mapping(config.synthetic), real_train, seed=int(config.seed)
    )
    log.info(
        "%s: %d of %d training texts are synthetic",
        result.data.name, int(result.synthetic.sum()), len(result.data),
    )  # fmt: skip
    return result.data


SAMPLES_PER_CLASS = 5  # generated texts per class shown in the study (samples.csv)


def show_text_quality(config: RunConfig, dest: Path) -> None:
    """The built-in text generator's quality for the real training texts of ``config``'s
    seed, written into ``dest``.

    The generator is refitted on that seed's real training split (it is cheap and seeded,
    so these are the texts the runs drew from) and scored by :func:`text_quality_table` in
    the *pretrained* encoder's sentence-embedding space (the space the prediction check
    scores in); ``dest`` gets the quality table, a few texts per class and the provenance.
    """
    settings = SyntheticSettings.from_mapping(config.synthetic or {})
    seed = int(config.seed)
    base = config.replace(synthetic=None)
    real = prepare_text_data(base).train_real
    synth = builtin_text_samples(settings, real, seed=seed)
    torch.manual_seed(0)  # the encoder's untrained head; the embeddings do not use it
    encoder = create_text_model(
        config.model, num_classes=real.num_classes, pretrained=config.pretrained
    ).eval()
    length = max_length(base)
    quality = text_quality_table(real, synth, embed=functools.partial(
        _embed, encoder, length=length))  # fmt: skip
    labels = synth.labels.numpy()
    shown = [i for c in range(real.num_classes)
             for i in np.flatnonzero(labels == c)[:SAMPLES_PER_CLASS]]  # fmt: skip
    samples = pd.DataFrame(
        {"class": [real.classes[labels[i]] for i in shown],
         "text": [synth.texts[i] for i in shown]}
    )  # fmt: skip
    dest.mkdir(parents=True, exist_ok=True)
    store.write_table(dest / store.QUALITY_TABLE, quality)
    store.write_table(dest / store.TEXT_SAMPLES_TABLE, samples)
    store.write_json(
        dest / store.PROVENANCE_FILE,
        {"generator": "word-bigram (weightspace.synthetic.text)", "seed": seed,
         "oversample": settings.oversample, "n_real": len(real), "n_synthetic": len(synth),
         "embedding": f"{config.model} (pretrained, mean-pooled)", "max_length": length},
    )  # fmt: skip
    log.info("text generator quality for seed %d written to %s", seed, dest)


def _embed(model: torch.nn.Module, texts: Sequence[str], *, length: int) -> np.ndarray:
    return predict_features(model, texts, length=length, batch_size=128).numpy()
