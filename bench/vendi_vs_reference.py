"""weightspace's Vendi score against the reference package vendi-score 0.0.3, same inputs.

Prints, per case, both timings (best of ``--repeat``), their ratio (reference / ours),
the peak extra memory of each (tracemalloc) and the largest relative difference of the
scores over q ∈ {0.5, 1, 2, inf}. Timings on a shared machine are noisy; the ratios are
measured in one process, back to back.

    WEIGHTSPACE_THREADS=1 .venv/bin/python bench/vendi_vs_reference.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc
import warnings
from collections.abc import Callable
from functools import partial

import numpy as np

QS: tuple[float | str, ...] = (0.5, 1, 2, "inf")


def features(n: int, d: int, rank: int, seed: int = 0) -> np.ndarray:
    """Clustered features of a given rank plus small isotropic noise, like encoder outputs."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(rank, d))
    coef = rng.normal(size=(n, rank)) * np.linspace(3.0, 0.3, rank)  # decaying spectrum
    return coef @ basis + 0.05 * rng.normal(size=(n, d))


def timed(fn: Callable[[], float], repeat: int) -> tuple[float, float, float]:
    """(best seconds, peak traced MiB of one call, value)."""
    tracemalloc.start()
    value = fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best, peak, value


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller cases")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    # Import both implementations (and the BLAS builds they load: numpy's, SciPy's, and
    # sklearn's OpenMP) *before* limiting threads: the limit applies to loaded libraries only.
    from vendi_score import vendi

    from weightspace.diversity import vendi_score, vendi_score_kernel
    from weightspace.threads import set_threads

    set_threads(int(os.environ.get("WEIGHTSPACE_THREADS", "1")))

    warnings.simplefilter("ignore", DeprecationWarning)
    big = 20_000 if args.quick else 60_000
    cases = [
        # (name, n, d, reference function, our function)
        (f"n={big} d=512, dual vs score_dual", big, 512, "dual"),
        ("n=2000 d=512, dual vs score_X (n×n)", 2000, 512, "X"),
        ("n=1500 d=2048, kernel vs score_K", 1500, 2048, "K"),
    ]
    print(f"threads={os.environ.get('WEIGHTSPACE_THREADS', '1')}  repeat={args.repeat}")
    header = f"{'case':<40} {'ours s':>8} {'ref s':>8} {'ref/ours':>8} {'ours MiB':>9} {'ref MiB':>9} {'max rel diff (q=0.5,1,2,inf)':>34}"
    print(header)
    for name, n, d, kind in cases:
        x = features(n, d, rank=min(d, 400))
        if kind == "dual":
            ours, ref = partial(vendi_score, x), partial(vendi.score_dual, x)
        elif kind == "X":
            ours, ref = partial(vendi_score, x), partial(vendi.score_X, x)  # ignores q (docs)
        else:
            xn = x / np.linalg.norm(x, axis=1, keepdims=True)
            k = xn @ xn.T  # (n, n)
            ours, ref = partial(vendi_score_kernel, k), partial(vendi.score_K, k)
        t_o, m_o, _ = timed(ours, args.repeat)
        t_r, m_r, _ = timed(ref, args.repeat)
        diffs = []
        for q in QS:
            if kind == "X" and q != 1:
                diffs.append("n/a")  # score_X ignores q
                continue
            a, b = ours(q=q), ref(q=q)
            diffs.append(f"{abs(a - b) / abs(a):.1e}")
        print(
            f"{name:<40} {t_o:>8.3f} {t_r:>8.3f} {t_r / t_o:>8.2f} {m_o:>9.1f} {m_r:>9.1f} "
            f"{' '.join(diffs):>34}"
        )
    # float32 input: the reference stays in float32, we compute in float64.
    x32 = features(big, 512, rank=400).astype(np.float32)
    exact = vendi_score(x32.astype(np.float64))
    print(
        f"float32 input n={big} d=512: rel. error ours {abs(vendi_score(x32) - exact) / exact:.1e}, "
        f"reference score_dual {abs(float(vendi.score_dual(x32)) - exact) / exact:.1e}"
    )


if __name__ == "__main__":
    main()
