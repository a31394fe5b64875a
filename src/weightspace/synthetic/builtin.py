"""Make (or reuse) the built-in generator's samples for one real training set.

Samples are cached under ``<cache>/synthetic/<key>/`` where the key hashes the generator
config, the oversampling and the real training data itself (images and labels), so every
run of a study that trains on the same real subset reuses the same samples; a different
subset (another seed) gets its own generator. The directory's files are the store's
(:mod:`weightspace.store.layout`: samples, filter confidences, quality table, sample grid,
provenance).

It is built in a temporary directory and renamed into place (weightspace.store.atomic_dir);
an exclusive file lock makes concurrent workers wait for one builder instead of racing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from weightspace import store
from weightspace.data.imageset import ImageSet
from weightspace.synthetic.generator import (
    GeneratorConfig,
    intended_class_confidence,
    sample,
    train_classifier,
    train_generator,
)
from weightspace.synthetic.quality import quality_table, sample_grid
from weightspace.synthetic.sources import load_synthetic

log = logging.getLogger(__name__)


def cache_root() -> Path:
    base = os.environ.get("WEIGHTSPACE_CACHE") or Path.home() / ".cache" / "weightspace"
    return Path(base) / "synthetic"


def data_hash(ds: ImageSet) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(ds.images.numpy()).tobytes())
    h.update(np.ascontiguousarray(ds.labels.numpy()).tobytes())
    h.update("\x00".join(ds.classes).encode())
    return h.hexdigest()[:16]


def cache_key(real: ImageSet, config: GeneratorConfig, oversample: float) -> str:
    payload = json.dumps(
        {"generator": config.__dict__, "oversample": oversample, "data": data_hash(real)},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file closes, also if the process dies
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def features(
    model: torch.nn.Module, images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor
) -> np.ndarray:
    """Penultimate features of ``model`` for uint8 ``images`` (N, C, H, W) -> (N, D) float64."""
    out = []
    with torch.no_grad():
        for chunk in images.split(512):
            x = (chunk.float() / 255.0 - mean.view(1, -1, 1, 1).float()) / std.view(
                1, -1, 1, 1
            ).float()
            out.append(model.forward_features(x).double())  # type: ignore[operator]
    return torch.cat(out).numpy()


def prepare_builtin(
    real: ImageSet,
    *,
    config: GeneratorConfig | None = None,
    oversample: float = 3.0,
    root: Path | None = None,
) -> Path:
    """The cache directory of built-in samples for ``real`` (generated on first use)."""
    config = config or GeneratorConfig()
    key = cache_key(real, config, oversample)
    final = (root or cache_root()) / key
    if store.is_complete(final):
        return final
    with _locked(final.with_name(f".{key}.lock")):
        if store.is_complete(final):  # another worker built it while we waited
            return final
        _build(real, config, oversample, final)
    return final


def _build(real: ImageSet, config: GeneratorConfig, oversample: float, final: Path) -> None:
    start = time.perf_counter()
    model, losses = train_generator(real, config)
    per_class = int(np.ceil(oversample * np.bincount(real.labels.numpy()).max()))
    synth = sample(
        model, per_class, temperature=config.temperature, seed=config.seed + 1, classes=real.classes
    )
    t_gen = time.perf_counter() - start
    clf, mean, std = train_classifier(real, seed=config.seed)
    conf = intended_class_confidence(clf, synth, mean=mean, std=std)
    quality = quality_table(
        features(clf, real.images, mean, std),
        real.labels.numpy(),
        features(clf, synth.images, mean, std),
        synth.labels.numpy(),
        real.classes,
        seed=config.seed,
    )
    quality["acceptance_at_0.5"] = np.append(
        [float((conf[synth.labels.numpy() == c] >= 0.5).mean()) for c in range(real.num_classes)],
        float((conf >= 0.5).mean()),
    )
    with store.atomic_dir(final, overwrite=True) as tmp:
        np.savez(
            tmp / store.SAMPLES_FILE,
            image=synth.images.numpy().transpose(0, 2, 3, 1),
            label=synth.labels.numpy(),
        )
        np.save(tmp / store.CONFIDENCE_FILE, conf)
        store.write_table(tmp / store.QUALITY_TABLE, quality)
        fig = sample_grid(synth.images.numpy(), synth.labels.numpy(), real.classes)
        fig.savefig(tmp / store.SAMPLE_GRID_FILE, dpi=100)
        store.write_json(
            tmp / store.PROVENANCE_FILE,
            {
                "generator": config.__dict__,
                "oversample": oversample,
                "samples_per_class": per_class,
                "real_data": {"name": real.name, "n": len(real), "hash": data_hash(real)},
                "losses": losses,
                "seconds_generator": t_gen,
                "seconds_total": time.perf_counter() - start,
                "classes": list(real.classes),
                "torch": torch.__version__,
            },
        )
    log.info("built-in synthetic samples ready in %s (%.0fs)", final, time.perf_counter() - start)


def load_builtin(path: Path, real: ImageSet) -> tuple[ImageSet, np.ndarray]:
    """Samples and filter confidences from a cache directory."""
    synth = load_synthetic(path / store.SAMPLES_FILE, like=real)
    return synth, np.load(path / store.CONFIDENCE_FILE, allow_pickle=False)
