"""Mix real and synthetic training data — images or texts — : the paper's ``gen`` conditions.

- ``replace`` p — a fraction p of the real training set is replaced by synthetic samples of
  the same classes (same size; class-balanced: each class loses and regains round(p·n_c));
  p = 1.0 trains on synthetic data only. Replaced rows keep their positions, so row i of the
  mix is paired with row i of the real set (the pairing the paper's ρ uses).
- ``add`` p — round(p·n) synthetic samples, allocated to classes in the real proportions,
  appended after the full real set.
- filtered — either mode, drawing only from synthetic samples that a classifier trained on
  real data labels as their intended class with confidence ≥ τ (the paper's "verified" set).

Images (:func:`mix`) and texts (:func:`mix_texts`) follow the same rules through the same
class-wise draw and allocation. Every mix returns the mixed set and a boolean mask of which
rows are synthetic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from weightspace.data.imageset import ImageSet, allocate
from weightspace.data.text import TextSet
from weightspace.errors import ConfigError, DataError

log = logging.getLogger(__name__)

MODES = ("replace", "add")


class _Labelled(Protocol):
    """What the draw needs of a synthetic set (an ImageSet or a TextSet)."""

    @property
    def labels(self) -> torch.Tensor: ...

    @property
    def classes(self) -> tuple[str, ...]: ...

    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class Mix:
    data: ImageSet
    synthetic: np.ndarray  # bool (N,), True where the row is synthetic

    @property
    def n_synthetic(self) -> int:
        return int(self.synthetic.sum())


@dataclass(frozen=True)
class TextMix:
    data: TextSet
    synthetic: np.ndarray  # bool (N,), True where the row is synthetic


def _draw(
    synth: _Labelled, counts: np.ndarray, rng: np.random.Generator, *, why: str, shortfall: bool
) -> np.ndarray:
    """Per class c, ``counts[c]`` synthetic indices drawn without replacement.

    With ``shortfall`` a class with too few samples contributes all it has (and a warning);
    otherwise that is an error.
    """
    labels = synth.labels.numpy()
    out = []
    for c, k in enumerate(counts):
        pool = np.flatnonzero(labels == c)
        if k > len(pool) and shortfall:
            log.warning(
                "%s: class %r has %d synthetic samples, %d wanted; using all of them",
                why,
                synth.classes[c],
                len(pool),
                k,
            )
            k = len(pool)
        if k > len(pool):
            raise DataError(
                f"{why} needs {k} synthetic samples of class {synth.classes[c]!r} but "
                f"{synth.name} has {len(pool)}; generate more samples (e.g. samples_per_class) "
                "or lower the fraction / the filter threshold"
            )
        out.append(rng.choice(pool, size=int(k), replace=False))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _check_fraction(fraction: float, mode: str) -> None:
    hi = 1.0 if mode == "replace" else 10.0
    if not 0.0 <= fraction <= hi:
        raise ConfigError(f"{mode} fraction must be in [0, {hi}], got {fraction}")


def _replace_counts(labels: np.ndarray, n_classes: int, fraction: float) -> np.ndarray:
    """round(fraction·n_c) rows to replace in each class c."""
    return np.array([round(fraction * int((labels == c).sum())) for c in range(n_classes)])


def _add_counts(labels: np.ndarray, n_classes: int, n_add: int) -> np.ndarray:
    """``n_add`` rows to add, split over classes in the real proportions."""
    real_counts = np.bincount(labels, minlength=n_classes)
    counts = allocate(real_counts, n_add) if n_add else np.zeros(n_classes, dtype=np.int64)
    # allocate caps at the real counts; with fraction > 1 allocate the exact share instead
    if counts.sum() < n_add:
        counts = np.floor(real_counts * (n_add / real_counts.sum())).astype(np.int64)
        counts[: n_add - int(counts.sum())] += 1
    return counts


def _replaced_rows(
    labels: np.ndarray,
    synth: _Labelled,
    counts: np.ndarray,
    rng: np.random.Generator,
    *,
    why: str,
    shortfall: bool,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per class, (real rows, synthetic indices) of equal length: which synthetic sample
    takes the place of which real row."""
    syn_idx = _draw(synth, counts, rng, why=why, shortfall=shortfall)
    syn_labels = synth.labels.numpy()[syn_idx]
    pairs = []
    for c in range(len(counts)):
        src = syn_idx[syn_labels == c]
        rows = rng.choice(np.flatnonzero(labels == c), size=len(src), replace=False)
        pairs.append((rows, src))
    return pairs


def mix_replace(
    real: ImageSet, synth: ImageSet, fraction: float, *, seed: int, shortfall: bool = False
) -> Mix:
    """Replace round(fraction·n_c) real samples of each class c by synthetic ones.

    With ``shortfall`` (filtered sources) a class replaces only as many rows as it has
    synthetic samples; the rest stay real.
    """
    _check_fraction(fraction, "replace")
    rng = np.random.default_rng(seed)
    labels = real.labels.numpy()
    counts = _replace_counts(labels, real.num_classes, fraction)
    images = real.images.clone()
    mask = np.zeros(len(real), dtype=bool)
    why = f"replacing {fraction:g} of the real set"
    for rows, src in _replaced_rows(labels, synth, counts, rng, why=why, shortfall=shortfall):
        images[torch.from_numpy(rows)] = synth.images[torch.from_numpy(src)]
        mask[rows] = True
    name = f"{real.name}+gen{fraction:g}"
    return Mix(
        ImageSet(images=images, labels=real.labels.clone(), classes=real.classes, name=name), mask
    )


def mix_add(
    real: ImageSet, synth: ImageSet, fraction: float, *, seed: int, shortfall: bool = False
) -> Mix:
    """Append round(fraction·n) synthetic samples (class proportions of the real set)."""
    _check_fraction(fraction, "add")
    rng = np.random.default_rng(seed)
    counts = _add_counts(real.labels.numpy(), real.num_classes, round(fraction * len(real)))
    syn_idx = rng.permutation(
        _draw(synth, counts, rng, why=f"adding {fraction:g}× the real set", shortfall=shortfall)
    )
    t = torch.from_numpy(syn_idx)
    images = torch.cat([real.images, synth.images[t]])
    labels = torch.cat([real.labels, synth.labels[t]])
    mask = np.concatenate([np.zeros(len(real), bool), np.ones(len(syn_idx), bool)])
    name = f"{real.name}+gen{fraction:g}_add"
    return Mix(ImageSet(images=images, labels=labels, classes=real.classes, name=name), mask)


def filter_by_confidence(synth: ImageSet, confidence: np.ndarray, tau: float) -> ImageSet:
    """Keep synthetic samples whose intended-class probability is at least ``tau``.

    ``confidence[i]`` is a real-data classifier's softmax probability of sample i's
    intended label *when that label is also the arg-max* (0 otherwise), see
    :func:`weightspace.synthetic.generator.intended_class_confidence`.
    """
    if not 0.0 <= tau <= 1.0:
        raise ConfigError(f"filter threshold tau must be in [0, 1], got {tau}")
    confidence = np.asarray(confidence, dtype=np.float64)
    if confidence.shape != (len(synth),):
        raise DataError(f"{len(confidence)} confidences for {len(synth)} synthetic samples")
    keep = np.flatnonzero(confidence >= tau)
    return synth.select(keep, name=f"{synth.name}[vf{tau:g}]")


def mix(
    real: ImageSet,
    synth: ImageSet,
    *,
    mode: str,
    fraction: float,
    seed: int,
    shortfall: bool = False,
) -> Mix:
    if mode == "replace":
        return mix_replace(real, synth, fraction, seed=seed, shortfall=shortfall)
    if mode == "add":
        return mix_add(real, synth, fraction, seed=seed, shortfall=shortfall)
    raise ConfigError(f"unknown synthetic mode {mode!r}; valid: {', '.join(MODES)}")


# -- texts ---------------------------------------------------------------------------------


def conform_texts(synth: TextSet, real: TextSet) -> TextSet:
    """Relabel ``synth`` onto ``real``'s class order (matched by class name)."""
    missing = sorted(set(synth.classes) - set(real.classes))
    if missing:
        raise DataError(
            f"{synth.name}: classes {missing} are not classes of the real data "
            f"({', '.join(real.classes)}); label the generated texts with the real class names"
        )
    lookup = torch.tensor([real.classes.index(c) for c in synth.classes])
    return TextSet(synth.texts, lookup[synth.labels], real.classes, synth.name)


def mix_texts(
    real: TextSet,
    synth: TextSet,
    *,
    mode: str,
    fraction: float,
    seed: int,
    shortfall: bool = False,
) -> TextMix:
    """The mixed training texts of one ``gen`` condition (the rules of the module docstring)."""
    if mode not in MODES:
        raise ConfigError(f"unknown synthetic mode {mode!r}; valid: {', '.join(MODES)}")
    _check_fraction(fraction, mode)
    rng = np.random.default_rng(seed)
    labels = real.labels.numpy()
    k = real.num_classes
    if mode == "replace":
        texts = list(real.texts)
        mask = np.zeros(len(real), dtype=bool)
        counts = _replace_counts(labels, k, fraction)
        why = f"replacing {fraction:g}"
        for rows, src in _replaced_rows(labels, synth, counts, rng, why=why, shortfall=shortfall):
            for r, s in zip(rows, src, strict=True):
                texts[r] = synth.texts[s]
            mask[rows] = True
        out = TextSet(
            tuple(texts), real.labels.clone(), real.classes, f"{real.name}+gen{fraction:g}"
        )
        return TextMix(out, mask)
    counts = _add_counts(labels, k, round(fraction * len(real)))
    idx = rng.permutation(
        _draw(synth, counts, rng, why=f"adding {fraction:g}x", shortfall=shortfall)
    )
    added = real.texts + tuple(synth.texts[i] for i in idx)
    y = torch.cat([real.labels, synth.labels[torch.from_numpy(idx)]])
    mask = np.concatenate([np.zeros(len(real), bool), np.ones(len(idx), bool)])
    return TextMix(TextSet(added, y, real.classes, f"{real.name}+gen{fraction:g}_add"), mask)
