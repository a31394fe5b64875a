"""Score a dataset under an augmentation or a synthetic mix: VS, ρ and WVS over several draws.

An augmentation is random, so one augmented copy of the training set is one sample of what
training sees. :func:`score_dataset` draws ``draws`` independent copies (draw k uses a
``torch.Generator`` seeded with ``seed + k``) and reports each score's mean and standard
deviation over them. Without an augmentation (``"none"``) there is a single draw.

Per draw, with R the real images and A the augmented/synthetic ones:

* ``vs_pixel``: Vendi score of A's pixels (resized to 32×32, flattened);
* ``vs_emb``: Vendi score of A's encoder features; ``vs_emb_real``: of R's;
* ``rho``: paired cosine similarity of the feature matrices (the paper's ρ);
  ``rho_pixel``: the same on pixels; ``rho_unpaired``: cosine of mean embeddings;
  ``mmd_sim``: exp(−MMD²), cosine kernel;
* ``wvs`` = ``vs_emb · rho``; ``wvs_unpaired`` = ``vs_emb · rho_unpaired``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from weightspace.data import ImageSet, make_augment, stratified_subset
from weightspace.diversity.baseline import TrainedModel
from weightspace.diversity.cache import FeatureCache, default_cache_dir, tensor_digest
from weightspace.diversity.encoders import Encoder, get_encoder
from weightspace.diversity.similarity import (
    mean_embedding_similarity,
    mmd_similarity,
    paired_similarity,
)
from weightspace.diversity.vendi import check_q, per_class_vendi, vendi_score
from weightspace.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

METRICS = (
    "vs_pixel",
    "vs_emb",
    "rho",
    "wvs",
    "rho_unpaired",
    "wvs_unpaired",
    "mmd_sim",
    "rho_pixel",
    "vs_pixel_real",
    "vs_emb_real",
)


@dataclasses.dataclass(frozen=True)
class DiversityResult:
    """Scores of one (dataset, augmentation or mix, encoder) over ``draws`` draws."""

    dataset: str
    augment: str
    encoder: str
    n: int
    q: float
    seed: int
    per_draw: tuple[Mapping[str, float], ...]
    per_class_vs_emb: Mapping[int, float]

    def __post_init__(self) -> None:
        if not self.per_draw:
            raise ValueError("a DiversityResult needs at least one draw")

    @property
    def draws(self) -> int:
        return len(self.per_draw)

    def mean(self, metric: str) -> float:
        return float(np.mean([d[metric] for d in self.per_draw]))

    def std(self, metric: str) -> float:
        """Sample standard deviation over draws (0 for a single draw)."""
        vals = [d[metric] for d in self.per_draw]
        return float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0

    def summary(self) -> dict[str, Any]:
        """One flat record: the metadata plus ``<metric>`` (mean) and ``<metric>_std``."""
        out: dict[str, Any] = {
            "dataset": self.dataset,
            "augment": self.augment,
            "encoder": self.encoder,
            "n": self.n,
            "q": self.q,
            "draws": self.draws,
        }
        for m in METRICS:
            out[m] = self.mean(m)
            out[f"{m}_std"] = self.std(m)
        return out

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([{"draw": i, **d} for i, d in enumerate(self.per_draw)])


def _spec_label(spec: Any) -> str:
    if spec is None:
        return "none"
    return spec if isinstance(spec, str) else repr(spec)


def score_dataset(
    ds: ImageSet,
    *,
    encoder: str | Encoder = "pixels",
    augment: str | Sequence[Mapping[str, Any]] | None = None,
    other: ImageSet | None = None,
    draws: int = 5,
    seed: int = 0,
    n: int | None = 2000,
    q: float = 1.0,
    device: str = "cpu",
    run: TrainedModel | None = None,
    cache: bool | str | Path = True,
) -> DiversityResult:
    """Diversity scores of ``ds`` as training sees it, over ``draws`` augmentation draws.

    ``augment``: a policy name or op list (``weightspace.data.make_augment``); ``None`` or
    ``"none"`` scores the clean images (or ``other`` as it is) in one draw. ``other``: a
    synthetic or mixed training set whose row i pairs with real row ``i % len(ds)`` (the
    "add" rule; see :func:`weightspace.diversity.similarity.pair_rows`); it is augmented
    too if ``augment`` is given. ``n``: a stratified subset of ``ds`` (seeded) to keep the cost bounded; the
    ``other`` rows paired with the chosen real rows follow it. ``cache``: ``True`` for the
    default cache folder, ``False`` to disable, or a folder.
    """
    q = check_q(q)
    if draws < 1:
        raise ConfigError(f"draws must be >= 1, got {draws}")
    aug = make_augment(augment if augment is not None else "none", in_channels=ds.in_channels)
    if aug.is_identity:
        draws = 1  # nothing random: every draw would be the same
    if isinstance(encoder, str):
        encoder = get_encoder(
            encoder, in_channels=ds.in_channels, image_size=ds.image_size[0], device=device,
            seed=seed, run=run,
        )  # fmt: skip
    pixels = get_encoder("pixels", in_channels=ds.in_channels, device=device)
    store = FeatureCache(
        None if cache is False else default_cache_dir() if cache is True else Path(cache)
    )

    sub, source, partner = _scored_rows(ds, other, n, seed=seed)
    real_digest = tensor_digest(sub.images)
    source_digest = tensor_digest(source.images)
    spec = aug.spec

    def clean() -> torch.Tensor:
        return sub.images.float() / 255.0  # (n, C, H, W) in [0, 1]

    real_emb = _cached(store, encoder, real_digest, [], None, clean)
    real_pix = _cached(store, pixels, real_digest, [], None, clean)
    real_vs = {
        "vs_pixel_real": vendi_score(real_pix, q=q),
        "vs_emb_real": vendi_score(real_emb, q=q),
    }
    rows: list[dict[str, float]] = []
    per_class: list[dict[int, float]] = []
    for k in range(draws):
        draw_seed = seed + k if not aug.is_identity else None
        draw = _Draw(aug, source.images, draw_seed)
        emb = _cached(store, encoder, source_digest, spec, draw_seed, draw)
        pix = _cached(store, pixels, source_digest, spec, draw_seed, draw)
        rows.append({**_draw_scores(real_emb, real_pix, emb, pix, partner, q), **real_vs})
        labels = source.labels.numpy()
        per_class.append(per_class_vendi(emb, labels, q=q))
    log.info("feature cache: %d hits, %d misses", store.hits, store.misses)
    classes = sorted(per_class[0])
    return DiversityResult(
        dataset=ds.name if other is None else f"{ds.name}+{other.name}",
        augment=_spec_label(augment),
        encoder=encoder.ident,
        n=len(source),
        q=q,
        seed=seed,
        per_draw=tuple(rows),
        per_class_vs_emb={c: float(np.mean([pc[c] for pc in per_class])) for c in classes},
    )


def _scored_rows(
    ds: ImageSet, other: ImageSet | None, n: int | None, *, seed: int
) -> tuple[ImageSet, ImageSet, np.ndarray]:
    """(real rows, scored rows, partner): the real rows are a stratified subset of ``ds``; the
    scored rows are those real rows, or the rows of ``other`` paired with a chosen real row
    (row i pairs with real row ``i % len(ds)``); ``partner[j]`` is the real row that scored
    row j pairs with."""
    real_idx = _subset_indices(ds, n, seed=seed)
    sub = ds if len(real_idx) == len(ds) else ds.select(real_idx, name=f"{ds.name}[{n}]")
    if other is None:
        return sub, sub, np.arange(len(sub))
    if other.in_channels != ds.in_channels:
        raise ConfigError(
            f"other set has {other.in_channels} channels but {ds.name} has {ds.in_channels}"
        )
    pos = np.full(len(ds), -1)
    pos[real_idx] = np.arange(len(real_idx))
    pair = pos[np.arange(len(other)) % len(ds)]  # (n_other,) index into sub, or -1
    keep = np.flatnonzero(pair >= 0)
    return sub, other.select(keep), pair[keep]


class _Draw:
    """One augmentation draw, computed on first use (not at all when both caches hit)."""

    def __init__(self, aug: Any, images: torch.Tensor, seed: int | None) -> None:
        self.aug, self.images, self.seed = aug, images, seed
        self._out: torch.Tensor | None = None

    def __call__(self) -> torch.Tensor:
        if self._out is None:
            g = torch.Generator().manual_seed(self.seed) if self.seed is not None else None
            self._out = self.aug(self.images, generator=g)  # (N, C, H, W) float in [0, 1]
        return self._out


def _cached(store: FeatureCache, enc: Encoder, digest: str, spec: Any, draw_seed: int | None,
            images: Any) -> np.ndarray:  # fmt: skip
    record = {"images": digest, "augment": spec, "draw_seed": draw_seed, "encoder": enc.ident}
    return store.get_or_compute(record, lambda: enc(images()))


def _subset_indices(ds: ImageSet, n: int | None, *, seed: int) -> np.ndarray:
    """Sorted indices of ``stratified_subset(ds, n, seed=seed)``'s rows in ``ds``.

    The draw depends only on the labels and the seed, so the same call on a stand-in set
    whose "images" encode the row index returns exactly the chosen indices.
    """
    if n is None or n >= len(ds):
        return np.arange(len(ds))
    idx = torch.arange(len(ds), dtype=torch.int64)
    code = torch.stack([(idx >> (8 * b)) & 255 for b in range(4)], dim=1).to(torch.uint8)
    probe = ImageSet(
        images=code.view(-1, 1, 1, 4), labels=ds.labels, classes=ds.classes, name=ds.name
    )  # (N, 1, 1, 4): the index's 4 bytes
    picked = stratified_subset(probe, n, seed=seed).images.view(-1, 4).long()
    index = torch.zeros(len(picked), dtype=torch.int64)
    for b in range(4):
        index |= picked[:, b] << (8 * b)
    return index.numpy()


def _draw_scores(real_emb: np.ndarray, real_pix: np.ndarray, emb: np.ndarray, pix: np.ndarray,
                 partner: np.ndarray, q: float) -> dict[str, float]:  # fmt: skip
    vs_emb = vendi_score(emb, q=q)
    rho = paired_similarity(real_emb[partner], emb)
    rho_u = mean_embedding_similarity(real_emb, emb)
    return {
        "vs_pixel": vendi_score(pix, q=q),
        "vs_emb": vs_emb,
        "rho": rho,
        "wvs": vs_emb * rho,
        "rho_unpaired": rho_u,
        "wvs_unpaired": vs_emb * rho_u,
        "mmd_sim": mmd_similarity(real_emb, emb) if min(len(emb), len(real_emb)) > 1 else math.nan,
        "rho_pixel": paired_similarity(real_pix[partner], pix),
    }
