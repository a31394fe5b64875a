"""Calibration of the default protocol's verdicts and intervals on simulated studies.

For every verdict and interval the conclusions print: the false-positive rate under a true
null (target ≤ 5%) and the power on planted effects, for the layer counts of the presets.

    PYTHONPATH=src WEIGHTSPACE_THREADS=1 python bench/calibration.py --studies 200 --seeds 3

Prints a Markdown table (the one in docs/compare.md) and the wall time.
"""

from __future__ import annotations

import argparse
import logging
import time

from weightspace.compare.calibrate import PRESET_LAYERS, SCENARIOS, calibration_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=200, help="simulated studies per cell")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per condition")
    parser.add_argument("--presets", default=",".join(PRESET_LAYERS))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    start = time.perf_counter()
    table = calibration_table(
        args.presets.split(","), args.scenarios.split(","), seeds=args.seeds,
        n_studies=args.studies, seed=args.seed,
    )  # fmt: skip
    wide = table.pivot_table(
        index=["scenario", "verdict", "kind"], columns="preset", values="rate", sort=False
    )
    cols = [p for p in args.presets.split(",") if p in wide.columns]
    header = (
        "| scenario | verdict | kind | "
        + " | ".join(f"{p} ({PRESET_LAYERS[p]} layers)" for p in cols)
        + " |"
    )
    print(header)
    print("|" + "---|" * (3 + len(cols)))
    for (scenario, verdict, kind), row in wide.iterrows():
        cells = " | ".join(f"{100 * row[p]:.1f}%" for p in cols)
        print(f"| {scenario} | {verdict} | {kind} | {cells} |")
    print(
        f"\n{args.studies} studies per cell, {args.seeds} seeds, "
        f"{time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
