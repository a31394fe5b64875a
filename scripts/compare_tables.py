"""Compare two studies' runs.parquet and layers.parquet value by value.

    python scripts/compare_tables.py STUDY_A STUDY_B

Rows are matched by their identity (runs: run_id; layers: run_id, snapshot, layer_id), and
every column the two tables share is compared exactly (NaN equals NaN), except wall-clock
timings. Columns only one table has are listed, not compared. Exit status 0 when every
shared value is identical, 1 otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

#: wall-clock measurements: they differ between any two runs of the same study
TIMING_COLUMNS = frozenset({"wall_time_s", "images_per_s", "seconds"})
KEYS = {"runs.parquet": ["run_id"], "layers.parquet": ["run_id", "snapshot", "layer_id"]}


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    both_nan = a.isna().to_numpy() & b.isna().to_numpy()
    equal = (a.astype(object).to_numpy() == b.astype(object).to_numpy()).astype(bool)
    return both_nan | equal


def compare_table(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> list[str]:
    """Differences between two tables as lines of text (empty when identical)."""
    problems = []
    if a.duplicated(keys).any() or b.duplicated(keys).any():
        problems.append(f"rows are not unique by {keys}")
        return problems
    a, b = a.set_index(keys).sort_index(), b.set_index(keys).sort_index()
    if not a.index.equals(b.index):
        only_a = a.index.difference(b.index)
        only_b = b.index.difference(a.index)
        problems.append(f"rows differ: {len(only_a)} only in A, {len(only_b)} only in B")
        common = a.index.intersection(b.index)
        a, b = a.loc[common], b.loc[common]
    shared = [c for c in a.columns if c in b.columns and c not in TIMING_COLUMNS]
    for col in shared:
        if str(a[col].dtype) != str(b[col].dtype):
            problems.append(f"column {col!r}: dtype {a[col].dtype} vs {b[col].dtype}")
        same = _same(a[col], b[col])
        if not same.all():
            first = int(np.flatnonzero(~same)[0])
            problems.append(
                f"column {col!r}: {int((~same).sum())} of {len(same)} values differ "
                f"(first at {a.index[first]}: {a[col].iloc[first]!r} vs {b[col].iloc[first]!r})"
            )
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    study_a, study_b = (Path(p) for p in argv)
    ok = True
    for name, keys in KEYS.items():
        a, b = pd.read_parquet(study_a / name), pd.read_parquet(study_b / name)
        new = sorted(set(b.columns) - set(a.columns))
        gone = sorted(set(a.columns) - set(b.columns))
        problems = compare_table(a, b, keys)
        shared = len([c for c in a.columns if c in b.columns and c not in TIMING_COLUMNS])
        print(
            f"{name}: {len(a)} vs {len(b)} rows, {shared} shared value columns compared "
            f"(timings left out: {sorted(TIMING_COLUMNS & set(a.columns))})"
        )
        if new:
            print(f"  columns only in B: {new}")
        if gone:
            print(f"  columns only in A: {gone}")
            ok = False
        for line in problems:
            print(f"  DIFFERS: {line}")
        if not problems:
            print("  every shared value identical")
        ok = ok and not problems
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
