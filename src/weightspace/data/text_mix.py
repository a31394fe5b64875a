"""Mix real and synthetic *texts*: the ``gen`` conditions, with the image rules.

The rules are those of :mod:`weightspace.data.synthetic.mix` (and reuse its class-wise draw
and the stratified allocation):

- ``replace`` p — round(p·n_c) real texts of each class c are replaced, at their positions,
  by synthetic texts of the same class (same size; row i stays paired with real row i);
- ``add`` p — round(p·n) synthetic texts, allocated to classes in the real proportions,
  appended after the real set;
- filtered — either mode, drawing only from synthetic texts that a classifier trained on the
  real texts labels as their intended class with confidence ≥ τ (shortfalls are logged and
  every passing text is used).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import torch

from weightspace.data.imageset import _allocate
from weightspace.data.synthetic.mix import _check_fraction, _draw
from weightspace.data.text import TextSet
from weightspace.errors import ConfigError, DataError

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TextMix:
    data: TextSet
    synthetic: np.ndarray  # bool (N,), True where the row is synthetic


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
    """The mixed training set of one ``gen`` condition (see the module docstring)."""
    if mode not in ("replace", "add"):
        raise ConfigError(f"unknown synthetic mode {mode!r}; valid: add, replace")
    _check_fraction(fraction, mode)
    rng = np.random.default_rng(seed)
    labels = real.labels.numpy()
    k = real.num_classes
    if mode == "replace":
        counts = np.array([round(fraction * int((labels == c).sum())) for c in range(k)])
        idx = _draw(synth, counts, rng, why=f"replacing {fraction:g}", shortfall=shortfall)  # type: ignore[arg-type]
        texts = list(real.texts)
        mask = np.zeros(len(real), dtype=bool)
        syn_labels = synth.labels.numpy()[idx]
        for c in range(k):
            src = idx[syn_labels == c]
            rows = rng.choice(np.flatnonzero(labels == c), size=len(src), replace=False)
            for r, s in zip(rows, src, strict=True):
                texts[r] = synth.texts[s]
            mask[rows] = True
        out = TextSet(
            tuple(texts), real.labels.clone(), real.classes, f"{real.name}+gen{fraction:g}"
        )
        return TextMix(out, mask)
    n_add = round(fraction * len(real))
    real_counts = np.bincount(labels, minlength=k)
    counts = _allocate(real_counts, n_add) if n_add else np.zeros(k, dtype=np.int64)
    if counts.sum() < n_add:  # fraction > 1: the exact share, not capped at the real counts
        counts = np.floor(real_counts * (n_add / real_counts.sum())).astype(np.int64)
        counts[: n_add - int(counts.sum())] += 1
    idx = rng.permutation(
        _draw(synth, counts, rng, why=f"adding {fraction:g}x", shortfall=shortfall)  # type: ignore[arg-type]
    )
    added = real.texts + tuple(synth.texts[i] for i in idx)
    y = torch.cat([real.labels, synth.labels[torch.from_numpy(idx)]])
    mask = np.concatenate([np.zeros(len(real), bool), np.ones(len(idx), bool)])
    return TextMix(TextSet(added, y, real.classes, f"{real.name}+gen{fraction:g}_add"), mask)
