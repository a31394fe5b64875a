"""FARMS: the ESD of fixed-aspect-ratio submatrices, free of the aspect-ratio bias.

Hu, Goel, Killiakov & Yang, "Eigenspectrum Analysis of Neural Networks without Aspect Ratio
Bias" (ICML 2025, arXiv:2506.06280). The shape of an ESD depends on the aspect ratio
Q = N/M of the matrix as well as on training (the Marchenko–Pastur law has Q in it), so the
alpha of a tall layer and of a square one are not comparable. FARMS analyses instead the
pooled ("average") ESD of overlapping submatrices that all have the same aspect ratio.

Here: each slice (N, M) with N >= M is covered by windows of ``ratio``·m × m (m = M when the
slice is at least that tall, else m = N / ratio), sliding along the long side with a stride of
``overlap``-fraction of the window (the last window is flush with the end); the eigenvalues
of every window's Gram matrix are pooled and fitted as usual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from weightspace.errors import ConfigError


@dataclass(frozen=True)
class FarmsOptions:
    """``ratio``: the windows' N/M (>= 1); ``overlap``: fraction shared by neighbours [0, 1)."""

    ratio: float = 1.0
    overlap: float = 0.5

    def __post_init__(self) -> None:
        if not (isinstance(self.ratio, int | float) and self.ratio >= 1.0):
            raise ConfigError(f"FARMS ratio must be a number >= 1, got {self.ratio!r}")
        if not (isinstance(self.overlap, int | float) and 0.0 <= self.overlap < 1.0):
            raise ConfigError(f"FARMS overlap must be in [0, 1), got {self.overlap!r}")


def _starts(length: int, window: int, step: int) -> list[int]:
    if window >= length:
        return [0]
    starts = list(range(0, length - window + 1, step))
    if starts[-1] != length - window:
        starts.append(length - window)  # flush with the end: every row is covered
    return starts


def window_shape(n: int, m: int, ratio: float) -> tuple[int, int]:
    """(rows, cols) of the windows for an (n, m) slice with n >= m."""
    if n >= ratio * m:
        return max(1, round(ratio * m)), m
    return n, max(1, math.floor(n / ratio))


def submatrices(slices: np.ndarray, opts: FarmsOptions) -> np.ndarray:
    """All windows of all slices: ``(S, N, M)`` -> ``(K, n, m)`` with n/m ≈ ``opts.ratio``."""
    s, n, m = slices.shape
    wn, wm = window_shape(n, m, opts.ratio)
    rows = _starts(n, wn, max(1, round(wn * (1.0 - opts.overlap))))
    cols = _starts(m, wm, max(1, round(wm * (1.0 - opts.overlap))))
    out = np.empty((s * len(rows) * len(cols), wn, wm))
    k = 0
    for i in range(s):
        for r in rows:
            for c in cols:
                out[k] = slices[i, r : r + wn, c : c + wm]
                k += 1
    return out
