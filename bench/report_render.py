"""What `weightspace report` costs on a finished study, against recomputing its statistics.

A study of the main job's shape is simulated (``weightspace.compare.simulate``: 10
augmentation, 4 dropout and 6 weight-decay conditions × 3 seeds, a baseline with 6, 34
layers, 5 metrics) and compared with both protocols at the defaults of ``weightspace study``
(the default protocol: 2,000 permutations, 1,000 bootstrap resamples, 100 simulated studies
behind the power table); the results are stored as the study stores them. Then, in one
process:

- ``compare``: both comparisons again — what a report that recomputes its statistics pays
  (the incumbent);
- ``report``: :func:`weightspace.report.build_report` reading the stored results (no figure
  files, the HTML only; every figure is still drawn and encoded).

Every timing is the median of ``--repeats``.

    .venv/bin/python bench/report_render.py [--threads 1] [--repeats 3] [--out DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from weightspace.compare import compare
from weightspace.compare.result import save_to_study
from weightspace.compare.simulate import Noise, StudyShape, Truth, simulate
from weightspace.report import build_report
from weightspace.threads import set_threads


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _both(study: Path) -> dict:
    return {"default": compare(study), "paper": compare(study, protocol="paper")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="study folder (default: temp)")
    args = parser.parse_args()
    set_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        study = args.out or Path(tmp) / "study"
        shape = StudyShape(seeds=3, baseline_seeds=6)
        simulated = simulate(shape, Truth(scenario="div_dp"), Noise(), rng=np.random.default_rng(0))
        simulated.write(study)
        save_to_study(study, _both(study))
        recompute = _median_time(lambda: _both(study), args.repeats)
        page = study / "bench-report.html"
        render = _median_time(lambda: build_report(study, out=page, formats=()), args.repeats)
    print(f"threads {args.threads}, median of {args.repeats}")
    print(f"{'step':<42} {'seconds':>8}")
    print(f"{'compare (both protocols, recomputed)':<42} {recompute:8.2f}")
    print(f"{'report (reads the stored comparisons)':<42} {render:8.2f}")
    print(f"ratio compare / report: {recompute / render:.1f}×")


if __name__ == "__main__":
    main()
