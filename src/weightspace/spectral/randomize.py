"""The randomized control: the ESD of W with its elements shuffled, and how far W's ESD is from it.

Shuffling the entries of each slice keeps the entry distribution (so the norms) and
destroys every correlation; its ESD is what the layer would look like with no learned
structure (an MP bulk for light-tailed entries). Randomness comes from the caller's
``numpy.random.Generator``.

Distances reported:

- ``rand_ks``: two-sample Kolmogorov–Smirnov distance between the eigenvalues of W and of
  the shuffled W (sup of the difference of the two empirical CDFs, in [0, 1]). It is a
  true metric on distributions, invariant to rescaling W and to any monotone transform of
  the eigenvalues (so it is the same on a log axis).
- ``rand_distance``: WeightWatcher 0.7.7's number, kept for users switching tools: the
  Jensen–Shannon distance between the two *sorted eigenvalue vectors* treated as
  probability vectors over eigenvalue ranks. It is not a distance between spectral
  densities (it compares mass per rank), so prefer ``rand_ks``.
"""

from __future__ import annotations

import math

import numpy as np

from weightspace.spectral.esd import shuffle_slices, slice_eigenvalues

WW_FEW_COMPONENTS = 100  # WeightWatcher: layers with fewer components get 5 shuffled replicas
WW_REPLICAS = 5


def ks_two_sample(a: np.ndarray, b: np.ndarray) -> float:
    """sup_x |F_a(x) − F_b(x)| of the two empirical CDFs."""
    a, b = np.sort(a), np.sort(b)
    pts = np.concatenate([a, b])
    fa = np.searchsorted(a, pts, side="right") / a.size
    fb = np.searchsorted(b, pts, side="right") / b.size
    return float(np.max(np.abs(fa - fb)))


def js_rank_distance(p: np.ndarray, q: np.ndarray) -> float:
    """WeightWatcher's ``rand_distance``: JS distance of two sorted eigenvalue vectors."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    mix = (p + q) / 2  # mixed before normalising, as scipy.stats.entropy receives it there
    p, q, mix = p / np.sum(p), q / np.sum(q), mix / np.sum(mix)

    def kl(u: np.ndarray, v: np.ndarray) -> float:
        nz = u > 0
        return float(np.sum(u[nz] * np.log(u[nz] / v[nz])))

    return math.sqrt(max((kl(p, mix) + kl(q, mix)) / 2, 0.0))


def randomized_evals(
    slices: np.ndarray,
    *,
    scale: float,
    replicas: int,
    rng: np.random.Generator,
    device: str = "cpu",
    precision: str = "float64",
) -> np.ndarray:
    """Pooled, sorted eigenvalues of ``replicas`` independently shuffled copies of the slices.

    ``scale`` multiplies the eigenvalues (0.5 for WeightWatcher's conv normalisation).
    """
    parts = [
        slice_eigenvalues(shuffle_slices(slices, rng), device=device, precision=precision).ravel()
        for _ in range(replicas)
    ]
    return np.sort(np.concatenate(parts)) * scale


def replicas_for(num_components: int) -> int:
    """WeightWatcher's rule: 5 shuffled replicas when the layer has < 100 components, else 1."""
    return WW_REPLICAS if num_components < WW_FEW_COMPONENTS else 1
