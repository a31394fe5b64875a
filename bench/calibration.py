"""Calibration of the default protocol on simulated studies with realistic heterogeneity.

Every verdict, interval and test family the comparison prints, on the grid of
:func:`weightspace.compare.calibrate.grid` (the paper's 21 conditions, 34 layers, AR(1)
layer noise, correlated metrics, unequal noise per category, condition-level random
effects; no / large seed shifts, weak references, unbalanced seeds, failed runs): its
false-claim rate where it should not fire and its power where it should, with Monte-Carlo
SEs that take the study as the unit.

    PYTHONPATH=src WEIGHTSPACE_THREADS=1 python bench/calibration.py --studies 200 --seeds 3

Prints a Markdown table (the one in docs/compare.md) and the wall time.
"""

from __future__ import annotations

import argparse
import logging
import time

from weightspace.compare.calibrate import calibration_table, grid
from weightspace.threads import set_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=200, help="simulated studies per case")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per condition")
    parser.add_argument("--case", action="append", default=[],
                        help="a case's name, repeat for several (default all)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    set_threads(1)
    cases = grid(seeds=args.seeds)
    if args.case:
        unknown = sorted(set(args.case) - {c.name for c in cases})
        if unknown:
            parser.error(f"no case named {unknown}; the cases: {[c.name for c in cases]}")
        cases = [c for c in cases if c.name in set(args.case)]
    start = time.perf_counter()
    table = calibration_table(cases, n_studies=args.studies, seed=args.seed)
    print("| case | family | verdict | kind | rate | MC SE | tests |")
    print("|---|---|---|---|---|---|---|")
    for row in table.itertuples():
        flag = "**" if row.kind == "false claims" and row.rate > 0.05 + 2 * row.mc_se else ""
        print(f"| {row.case} | {row.family} | {row.verdict} | {row.kind} | "
              f"{flag}{100 * row.rate:.1f}%{flag} | {100 * row.mc_se:.1f} | {row.n_tests} |")  # fmt: skip
    print(f"\n{args.studies} studies per case, {args.seeds} seeds, "
          f"{time.perf_counter() - start:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
