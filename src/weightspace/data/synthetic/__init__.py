"""Already-made synthetic samples: importing them (:func:`load_synthetic`) and mixing them
into a real training set (:func:`mix`). Generating samples is the job of the stage above
training, :mod:`weightspace.synthetic`.
"""

from __future__ import annotations

from weightspace.data.synthetic.mix import (
    MODES,
    Mix,
    filter_by_confidence,
    mix,
    mix_add,
    mix_replace,
)
from weightspace.data.synthetic.sources import load_synthetic

__all__ = [
    "MODES",
    "Mix",
    "filter_by_confidence",
    "load_synthetic",
    "mix",
    "mix_add",
    "mix_replace",
]
