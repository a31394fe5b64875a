"""Coverage of the shape test's interval of cos_dp − cos_wd (``axis_shape``), raw.

The comparison withholds that interval (docs/compare.md, *Shape alone*); this measures the
Fieller interval it would give, at both levels (one condition, data diversity's category),
on two kinds of design:

* ``--study DIR``: a finished study's own design and effects (the power tool's plan,
  :func:`weightspace.compare.power.plan_from_study`), with data diversity's effects as
  measured, ×0.5, ×2, every effect ×0.5, and equally aligned with both references;
* the calibration grid's design (:mod:`weightspace.compare.simulate`: 21 conditions,
  34 layers, noise that differs between categories) with data diversity carrying one
  reference's signature, references at 1, 2 and 3 times the grid's size.

The truth is the cosine difference of the true mean profiles in the noise-scaled cells the
fit measures. Rates: intervals that miss the truth, ± MC SE with the study as the unit.

    PYTHONPATH=src WEIGHTSPACE_THREADS=1 python bench/shape_interval.py --studies 1000 \\
        --study studies/finetune
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd

from weightspace.compare.estimates import DatasetProfiles, profiles_from_matrix
from weightspace.compare.fingerprint import REFERENCES
from weightspace.compare.power import Plan, _equal_shape, plan_from_study, simulate_plan
from weightspace.compare.shape import shape_rows
from weightspace.compare.simulate import Noise, StudyShape, Truth, simulate, true_cosines
from weightspace.threads import set_threads


def _plan_truth(plan: Plan) -> dict[str, float]:
    """cos_dp − cos_wd of every data-diversity condition and the category, from the plan's
    true profiles on the scale the fit puts them (each metric by its noise SD)."""
    var = (plan.factor**2).sum(1)
    scale = np.empty(len(plan.metric))
    for m in set(plan.metric):
        scale[plan.metric == m] = math.sqrt(var[plan.metric == m].mean())
    cats = plan.categories

    def mean(names: list[str]) -> np.ndarray:
        return np.mean([plan.mu[c] / scale for c in names], 0)

    a, b = (mean([c for c in plan.mu if cats[c] == k]) for k in REFERENCES)
    div = [c for c in plan.mu if cats[c] == "div"]
    out = {}
    for name, names in [*((c, [c]) for c in div), ("div", div)]:
        p = mean(names)
        norm = float(np.linalg.norm(p))
        out[name] = (p @ a / np.linalg.norm(a) - p @ b / np.linalg.norm(b)) / norm if norm else 0
    return out


def _rows(fits: Callable[[int], tuple[DatasetProfiles, Callable[[str], float]]],
          n: int) -> pd.DataFrame:  # fmt: skip
    rows = []
    for i in range(n):
        fit, truth = fits(i)
        for row in shape_rows([fit], REFERENCES, raw_intervals=True):
            rows.append({"study": i, "level": row["level"], "low": row["ci_low"],
                         "high": row["ci_high"], "true": truth(str(row["name"]))})  # fmt: skip
    return pd.DataFrame(rows)


def _summary(case: str, rows: pd.DataFrame) -> list[str]:
    out = []
    for level in ("condition", "category"):
        x = rows[rows["level"] == level]
        has = np.isfinite(x["low"])
        miss = has & ~((x["low"] <= x["true"]) & (x["true"] <= x["high"]))
        per = pd.DataFrame({"has": has, "miss": miss, "study": x["study"]}).groupby("study").sum()
        n, total = len(per), max(int(per["has"].sum()), 1)
        rate = per["miss"].sum() / total
        resid = per["miss"] - rate * per["has"]  # ratio estimator, the study as the unit
        se = math.sqrt(float((resid**2).sum()) / (n * (n - 1))) / max(per["has"].mean(), 1e-12)
        out.append(f"| {case} | {level} | {int(per['has'].sum())} of {len(x)} | "
                   f"{100 * rate:.1f}% | {100 * se:.1f} |")  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=1000, help="simulated studies per case")
    parser.add_argument("--study", default=None, help="a finished study for its own design")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    set_threads(1)
    start = time.perf_counter()
    lines = ["| case | level | intervals | miss the truth | MC SE |", "|---|---|---|---|---|"]
    if args.study:
        plan = plan_from_study(args.study)

        def div_times(f: float, everything: bool = False) -> Plan:
            mu = {c: v * f if everything or plan.categories[c] == "div" else v
                  for c, v in plan.mu.items()}  # fmt: skip
            return replace(plan, mu=mu)

        for case, p in (("study as measured", plan), ("study, data diversity ×0.5",
                        div_times(0.5)), ("study, data diversity ×2", div_times(2.0)),
                        ("study, every effect ×0.5", div_times(0.5, True)),
                        ("study, div equally aligned", _equal_shape(plan))):  # fmt: skip
            truth, rng = _plan_truth(p), np.random.default_rng(args.seed)
            rows = _rows(lambda _, p=p, t=truth, r=rng: (simulate_plan(p, r), t.__getitem__),
                         args.studies)  # fmt: skip
            lines += _summary(case, rows)
    design = StudyShape(seeds=3, n_layers=34)
    for scenario in ("div_dp", "div_wd"):
        for refs in (1.0, 2.0, 3.0):
            truth = Truth(scenario=scenario, dp_size=refs, wd_size=1.2 * refs, div_size=1.2)
            seeds = np.random.SeedSequence(args.seed).spawn(args.studies)

            def grid_fit(i: int, t: Truth = truth, s: list = seeds) -> tuple:  # type: ignore[type-arg]
                study = simulate(design, t, Noise(), rng=np.random.default_rng(s[i]))
                fit = profiles_from_matrix("sim", study.delta, study.condition, study.seed,
                                           list(study.category), study.metric, study.layer)  # fmt: skip

                def diff(name: str) -> float:
                    names = [name] if name != "div" else fit.members("div")
                    cos_dp, cos_wd = true_cosines(study, names)
                    return cos_dp - cos_wd

                return fit, diff

            lines += _summary(f"grid, {scenario}, references ×{refs:g}",
                              _rows(grid_fit, args.studies))  # fmt: skip
    print("\n".join(lines))
    print(f"\n{args.studies} studies per case, {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
