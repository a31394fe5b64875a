"""Truncated power-law (TPL) fits: weightspace vs the ``powerlaw`` 1.5 package.

WeightWatcher 0.7.7's ``fit="TPL"`` / ``"E_TPL"`` call ``powerlaw.Fit(..., xmin_distribution=
"truncated_power_law")``: a Nelder–Mead fit per candidate xmin, with mpmath's incomplete gamma
function in the likelihood and the KS distance. weightspace reproduces it operation for
operation with a float64 incomplete gamma (``spectral/incgamma.py``). For the ESD of a
Gaussian and of a Student-t(3) N×M matrix this prints each one's time, the ratio and the
largest relative difference of alpha, Lambda, xmin and D.

    .venv/bin/python bench/tpl_vs_powerlaw.py              # 1000×400 (400 eigenvalues)
    .venv/bin/python bench/tpl_vs_powerlaw.py --shape 600 240
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import time
import warnings

import numpy as np

from weightspace.spectral.fingers import peak_xmin
from weightspace.spectral.tpl import TPL, package_fit


def esd(kind: str, n: int, m: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((n, m)) if kind == "gauss" else rng.standard_t(3.0, (n, m))
    ev = np.linalg.svd(w / math.sqrt(n), compute_uv=False) ** 2
    return np.sort(ev[ev > 1e-5])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=2, default=(1000, 400), metavar=("N", "M"))
    args = parser.parse_args()
    import powerlaw

    n, m = args.shape
    for kind, fit in (("gauss", "TPL"), ("student_t", "E_TPL")):
        x = esd(kind, n, m)
        xmin_range = None
        if fit == "E_TPL":  # WeightWatcher's xmin_peak range
            peak = peak_xmin(x)
            xmin_range = (math.log10(0.95 * peak), 1.5 * peak)
        t0 = time.perf_counter()
        quiet = contextlib.redirect_stdout(io.StringIO())  # powerlaw prints its progress
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()), quiet:
            warnings.simplefilter("ignore")
            ref = powerlaw.Fit(x, xmin=xmin_range, distribution=TPL, xmin_distribution=TPL,
                               verbose=False)  # fmt: skip
            ref_vals = (ref.truncated_power_law.alpha, ref.truncated_power_law.Lambda,
                        ref.xmin, ref.D)  # fmt: skip
        t_ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours = package_fit(x, distribution=TPL, xmin_range=xmin_range)
        t_ours = time.perf_counter() - t0
        ours_vals = (ours.alpha, ours.Lambda, ours.xmin, ours.D)
        diff = max(abs(a - b) / abs(b) for a, b in zip(ours_vals, ref_vals, strict=True))
        print(
            f"{kind:9s} {fit:5s} {x.size} eigenvalues: powerlaw {t_ref:6.1f} s, weightspace "
            f"{t_ours:5.2f} s, ratio {t_ref / t_ours:5.1f}x; alpha {ours.alpha:.6f} "
            f"(powerlaw {ref_vals[0]:.6f}), max rel. diff {diff:.1e}"
        )


if __name__ == "__main__":
    main()
