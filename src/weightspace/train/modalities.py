"""The registry of modalities, and the one place a dataset's modality is decided.

:func:`modality_of` asks each :class:`~weightspace.train.modality.Modality` in
:data:`MODALITIES` whether it handles a dataset; the image modality comes last and takes every
dataset no other claims (a registry name, ``imagefolder:PATH``, ``npz:PATH``, a path).
"""

from __future__ import annotations

from collections.abc import Iterable

from weightspace.train.config import RunConfig
from weightspace.train.image import ImageModality
from weightspace.train.modality import Modality
from weightspace.train.text import TextModality

#: name -> modality, in the order :func:`modality_of` asks them
MODALITIES: dict[str, Modality] = {m.name: m for m in (TextModality(), ImageModality())}


def modality_of(dataset: str) -> Modality:
    """The modality of ``dataset``: the first of :data:`MODALITIES` that handles it."""
    return next(m for m in MODALITIES.values() if m.handles(dataset))


def misplaced_fields(dataset: str, given: Iterable[str]) -> dict[str, list[str]]:
    """The fields among ``given`` that only another modality than ``dataset``'s reads, by
    the name of that modality (``{"text": ["max_length"]}`` for an image dataset)."""
    own = modality_of(dataset)
    names = list(given)
    out = {m.name: [f for f in names if f in m.fields] for m in MODALITIES.values() if m is not own}
    return {name: fields for name, fields in out.items() if fields}


def check_names(config: RunConfig) -> None:
    """Check ``config``'s dataset, model and augmentation against its modality's registries.

    Kept out of ``RunConfig.__post_init__`` so that building a config never imports torch;
    the CLI, the study and :func:`weightspace.train.run` call it before any work starts.
    """
    modality_of(config.dataset).check_names(config)
