"""Quality of a synthetic set in a feature space: fidelity, coverage, per-class diversity.

- precision / recall (Kynkäänniemi et al. 2019): the fraction of synthetic points inside the
  real k-NN manifold (fidelity), and of real points inside the synthetic manifold (coverage
  of the real modes);
- density / coverage (Naeem et al. 2020): density counts how many real k-NN balls hold each
  synthetic point (÷ k; ≈1 for a faithful generator, robust to real outliers); coverage is
  the fraction of real points whose k-NN ball holds at least one synthetic point;
- per-class Vendi score of real and synthetic features (``weightspace.diversity``).

Features come from the classifier trained on the real data (its penultimate layer, the
``baseline`` encoder idea), so "quality" means quality as the task sees it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from weightspace.diversity import vendi_score


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # squared Euclidean distances (len(a), len(b)), float64
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def _knn_radius(x: np.ndarray, k: int) -> np.ndarray:
    d = _pairwise(x, x)
    return np.sort(d, axis=1)[:, min(k, len(x) - 1)]  # column 0 is the point itself


def fidelity_coverage(real: np.ndarray, fake: np.ndarray, *, k: int = 5) -> dict[str, float]:
    """precision, recall, density, coverage of ``fake`` against ``real`` (rows = samples)."""
    real = np.asarray(real, np.float64)
    fake = np.asarray(fake, np.float64)
    if len(real) <= k or len(fake) <= k:
        nan = float("nan")
        return {"precision": nan, "recall": nan, "density": nan, "coverage": nan}
    r_real = _knn_radius(real, k)  # (R,)
    r_fake = _knn_radius(fake, k)  # (F,)
    d = _pairwise(real, fake)  # (R, F)
    inside_real = d <= r_real[:, None]  # fake j inside real ball i
    precision = float(inside_real.any(axis=0).mean())
    recall = float((d <= r_fake[None, :]).any(axis=1).mean())
    density = float(inside_real.sum(axis=0).mean() / k)
    coverage = float((d.min(axis=1) <= r_real).mean())
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


def quality_table(
    real_feats: np.ndarray,
    real_labels: np.ndarray,
    fake_feats: np.ndarray,
    fake_labels: np.ndarray,
    classes: tuple[str, ...],
    *,
    k: int = 5,
    max_per_class: int = 500,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per class (and an ``all`` row): fidelity, coverage and Vendi scores."""
    rng = np.random.default_rng(seed)

    def take(x: np.ndarray, n: int) -> np.ndarray:
        return x if len(x) <= n else x[rng.choice(len(x), n, replace=False)]

    rows = []
    for c, name in enumerate(classes):
        r = take(real_feats[real_labels == c], max_per_class)
        f = take(fake_feats[fake_labels == c], max_per_class)
        row = {
            "class": name,
            "n_real": int((real_labels == c).sum()),
            "n_synthetic": int((fake_labels == c).sum()),
        }
        row |= fidelity_coverage(r, f, k=k)
        row["vs_real"] = vendi_score(r) if len(r) else float("nan")
        row["vs_synthetic"] = vendi_score(f) if len(f) else float("nan")
        rows.append(row)
    df = pd.DataFrame(rows)
    overall = {
        "class": "all",
        "n_real": int(df.n_real.sum()),
        "n_synthetic": int(df.n_synthetic.sum()),
    }
    overall |= fidelity_coverage(take(real_feats, 2000), take(fake_feats, 2000), k=k)
    overall["vs_real"] = float(df.vs_real.mean())
    overall["vs_synthetic"] = float(df.vs_synthetic.mean())
    return pd.concat([df, pd.DataFrame([overall])], ignore_index=True)


def sample_grid(
    images: np.ndarray, labels: np.ndarray, classes: tuple[str, ...], *, per_class: int = 8
):
    """A matplotlib Figure: one row per class, ``per_class`` samples each."""
    from matplotlib.figure import Figure

    k = len(classes)
    fig = Figure(figsize=(per_class * 0.8 + 1.5, k * 0.8 + 0.3))
    axes = fig.subplots(k, per_class, squeeze=False)
    for c in range(k):
        idx = np.flatnonzero(labels == c)[:per_class]
        for j in range(per_class):
            ax = axes[c, j]
            ax.axis("off")
            if j < len(idx):
                img = images[idx[j]].transpose(1, 2, 0)  # (H, W, C)
                ax.imshow(img[..., 0] if img.shape[2] == 1 else img, cmap="gray", vmin=0, vmax=255)
        axes[c, 0].text(
            -0.1,
            0.5,
            classes[c],
            transform=axes[c, 0].transAxes,
            ha="right",
            va="center",
            fontsize=7,
        )
    fig.subplots_adjust(left=0.15, right=0.99, top=0.99, bottom=0.01, wspace=0.05, hspace=0.05)
    return fig
