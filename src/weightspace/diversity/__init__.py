"""Diversity of a training set: Vendi score, similarity to the real data, weighted Vendi score.

Pure math lives in :mod:`~weightspace.diversity.vendi`, :mod:`~.similarity` and
:mod:`~.weighted`; encoders and dataset scoring are imported lazily (they need torch and
the data package). The prediction check, which joins diversity with a study's outcomes, is
:func:`weightspace.study.predict.prediction_check`.
"""

from __future__ import annotations

from typing import Any

from weightspace.diversity.similarity import (
    mean_embedding_similarity,
    mmd2,
    mmd_similarity,
    pair_rows,
    paired_similarity,
)
from weightspace.diversity.vendi import (
    per_class_vendi,
    renyi_entropy,
    spectrum_vendi,
    vendi_score,
    vendi_score_kernel,
)
from weightspace.diversity.weighted import WeightedVendi, weighted_vendi

_LAZY = {
    "ENCODERS": "weightspace.diversity.encoders",
    "Encoder": "weightspace.diversity.encoders",
    "get_encoder": "weightspace.diversity.encoders",
    "DiversityResult": "weightspace.diversity.dataset",
    "score_dataset": "weightspace.diversity.dataset",
}

__all__ = [
    "ENCODERS",
    "DiversityResult",
    "Encoder",
    "WeightedVendi",
    "get_encoder",
    "mean_embedding_similarity",
    "mmd2",
    "mmd_similarity",
    "pair_rows",
    "paired_similarity",
    "per_class_vendi",
    "renyi_entropy",
    "score_dataset",
    "spectrum_vendi",
    "vendi_score",
    "vendi_score_kernel",
    "weighted_vendi",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'weightspace.diversity' has no attribute {name!r}")
