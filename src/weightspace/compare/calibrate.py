"""Calibration: how often each verdict of the default protocol is false, and how often a
true effect is found, on simulated studies with known truth (:mod:`.simulate`).

:func:`study_claims` runs the protocol's verdicts on one simulated study — the fingerprint
(conditions, reference check, headline), the axis intervals, the category tests and
intervals, dose–response, dynamics and spectral-vs-outcome — and labels each claim made or
withheld with whether the claim would be true. :func:`calibrate` repeats that over many
studies: a verdict's **false-claim rate** is the share of the tests it could get wrong that
it got wrong (for an interval: the share that misses the truth), its **power** the share
of true effects it found. Monte-Carlo standard errors treat the *study* as the unit (tests
of one study share its baseline and noise, so they are not independent).
:func:`calibration_table` runs the grid of scenarios in docs/compare.md
(``python bench/calibration.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from weightspace.compare.categories import BASELINE
from weightspace.compare.contrasts import category_tests, omnibus_table
from weightspace.compare.dynamics import trajectory_tests
from weightspace.compare.estimates import profile_scores, profiles_from_matrix
from weightspace.compare.fingerprint import ALPHA, REFERENCES, fingerprint_tables
from weightspace.compare.multiplicity import adjust_tables
from weightspace.compare.relations import dose_response_table, spectral_vs_outcomes
from weightspace.compare.simulate import (
    Noise,
    SimulatedStudy,
    StudyShape,
    Truth,
    simulate,
    true_cosines,
    true_theta,
)
from weightspace.compare.uncertainty import category_mean_intervals

FAMILY_ORDER = ("headline", "fingerprint", "intervals", "category tests", "dose–response",
                "dynamics", "outcome")  # fmt: skip


@dataclass(frozen=True)
class Claim:
    """One verdict on one study: which kind, whether it was asserted, and whether the
    assertion is (or would have been) true. ``null``: nothing to find (a false-claim
    opportunity); otherwise a power opportunity."""

    family: str
    verdict: str
    asserted: bool
    correct: bool
    null: bool


@dataclass(frozen=True)
class Case:
    """One cell of the calibration grid."""

    name: str
    shape: StudyShape = field(default_factory=StudyShape)
    truth: Truth = field(default_factory=Truth)
    noise: Noise = field(default_factory=Noise)


def _runs_table(study: SimulatedStudy, metrics: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-run layer-averaged seed-matched ΔΔ, runs) — what dose–response and the outcome
    relation read."""
    frame = pd.DataFrame({"dataset": "sim", "condition": study.condition,
                          "category": study.category, "seed": study.seed})  # fmt: skip
    for m in metrics:
        frame[m] = study.delta[:, study.metric == m].mean(1)
    base = frame[frame["condition"] == BASELINE].set_index("seed")[list(metrics)]
    dd = frame[frame["condition"] != BASELINE].copy()
    dd[list(metrics)] = dd[list(metrics)].to_numpy() - base.reindex(dd["seed"]).to_numpy()
    runs = frame[["dataset", "condition", "category", "seed"]].assign(
        strength=study.strength, test_acc=study.acc,
        run_id=[f"{c}__s{s}" for c, s in zip(study.condition, study.seed, strict=True)],
    )  # fmt: skip
    return dd.reset_index(drop=True), runs


def _fingerprint_claims(
    study: SimulatedStudy, fp: pd.DataFrame, pos: pd.DataFrame
) -> Iterator[Claim]:
    dd = study.true_dd
    for row in fp.itertuples():
        names = [row.name] if row.level == "condition" else [
            c for c, k in study.categories.items() if k == row.name]  # fmt: skip
        no_effect = all(not np.any(dd[c]) for c in names)
        leave = row.name if row.level == "condition" and row.category in REFERENCES else None
        theta = true_theta(study, names, leave)
        verdict = str(row.verdict)
        family = "headline" if str(row.family).startswith("headline") else "fingerprint"
        who = {"condition": "condition", "category": "category"}[row.level]
        if row.role == "reference" and row.level == "condition":
            who = "reference condition"
        yield Claim(family, f"{who}: moved", verdict.startswith(("moved", "acts")), not no_effect,
                    no_effect)  # fmt: skip
        if row.level == "category" and row.role == "reference":
            continue
        side = "" if abs(theta - 0.5) < 1e-6 else "dp" if theta < 0.5 else "wd"
        claim = (
            "dp"
            if "acts like dropout" in verdict
            else "wd"
            if "acts like weight" in verdict
            else ""
        )
        on_boundary = no_effect or not side
        yield Claim(family, f"{who}: acts like a reference", bool(claim),
                    bool(claim) and claim == side and not no_effect, on_boundary)  # fmt: skip
        if row.level == "condition" and row.role == "reference" and not no_effect:
            yield Claim(family, f"{who}: recognised as its own category", claim == row.category,
                        claim == row.category, False)  # fmt: skip
    for row in pos.itertuples():
        if row.metric != "all" or not math.isfinite(row.ci_low):
            continue
        names = [row.name] if row.level == "condition" else [
            c for c, k in study.categories.items() if k == row.name]  # fmt: skip
        leave = row.name if row.level == "condition" and row.category in REFERENCES else None
        theta = true_theta(study, names, leave)
        if math.isfinite(theta):
            missed = not (row.ci_low <= theta <= row.ci_high)
            yield Claim("intervals", f"{row.level} axis interval misses θ", missed, False, True)


def _shape_claims(study: SimulatedStudy, shape: pd.DataFrame) -> Iterator[Claim]:
    """The size-free shape verdicts (``axis_shape``) and the intervals of cos_a − cos_b
    against the true cosines; equal cosines (a zero profile included) is the null."""
    for row in shape.itertuples():
        names = [row.name] if row.level == "condition" else [
            c for c, k in study.categories.items() if k == row.name]  # fmt: skip
        cos_a, cos_b = true_cosines(study, names)
        diff = cos_a - cos_b if math.isfinite(cos_a) else 0.0  # a zero profile: no side
        family = "headline" if str(row.family).startswith("headline") else "fingerprint"
        verdict = str(row.verdict)
        claim = ("dp" if verdict.startswith("its shape is closer to dropout") else
                 "wd" if verdict.startswith("its shape is closer to weight") else "")  # fmt: skip
        null = abs(diff) < 1e-9
        side = "dp" if diff > 0 else "wd"
        yield Claim(family, f"{row.level}: shape closer to one reference", bool(claim),
                    bool(claim) and claim == side and not null, null)  # fmt: skip
        if math.isfinite(row.ci_low) and math.isfinite(cos_a):
            missed = not (row.ci_low <= diff <= row.ci_high)
            yield Claim("intervals", f"{row.level} shape interval misses cos_dp − cos_wd",
                        missed, False, True)  # fmt: skip


def _category_claims(study: SimulatedStudy, tests: pd.DataFrame, means: pd.DataFrame,
                     population_null: bool) -> Iterator[Claim]:  # fmt: skip
    for row in tests.itertuples():
        primary = str(row.family).startswith("primary")
        kind = "primary (Holm)" if primary else "other pairs (BH)"
        fired = bool(row.p_adj < ALPHA)
        yield Claim("category tests", f"{kind}: p_adj < 0.05", fired, fired and not population_null,
                    population_null)  # fmt: skip
        if population_null and math.isfinite(row.diff_ci_low):
            yield Claim("intervals", "difference interval misses 0",
                        not (row.diff_ci_low <= 0 <= row.diff_ci_high), False, True)  # fmt: skip
    if population_null:
        for row in means.itertuples():
            if math.isfinite(row.ci_low):
                yield Claim("intervals", "category-mean interval misses 0",
                            not (row.ci_low <= 0 <= row.ci_high), False, True)  # fmt: skip


def study_claims(study: SimulatedStudy, truth: Truth, *, rng: np.random.Generator,
                 n_perm: int = 200) -> list[Claim]:  # fmt: skip
    """Every claim the default protocol makes (or withholds) on ``study``, labelled."""
    metrics = list(dict.fromkeys(study.metric))
    fits = [profiles_from_matrix("sim", study.delta, study.condition, study.seed,
                                 list(study.category), study.metric, study.layer)]  # fmt: skip
    tabs = fingerprint_tables(fits, metrics)
    claims = list(_fingerprint_claims(study, tabs["fingerprint"], tabs["axis_positions"]))
    claims += _shape_claims(study, tabs["axis_shape"])
    scores = profile_scores(fits, metrics)
    tests = adjust_tables({"category_tests": category_tests(
        scores, metrics, rng=rng, n_perm=n_perm, effect_size=False)})["category_tests"]  # fmt: skip
    population_null = truth.scenario in ("null", "random")
    claims += _category_claims(study, tests, category_mean_intervals(fits, metrics),
                               population_null)  # fmt: skip
    omnibus = adjust_tables({"omnibus": omnibus_table(scores, metrics, rng=rng, n_perm=n_perm)})
    for row in omnibus["omnibus"].itertuples():
        fired = bool(row.p_adj < ALPHA)
        claims.append(Claim("category tests", "omnibus F p_adj < 0.05", fired,
                            fired and not population_null, population_null))  # fmt: skip
    dd, runs = _runs_table(study, metrics)
    dose = adjust_tables({"dose_response": dose_response_table(
        dd, runs, metrics, rng=rng, n_boot=0, n_perm=n_perm)})["dose_response"]  # fmt: skip
    trend = truth.dose_trend and truth.scenario not in ("null", "random")
    for row in dose[dose["kind"] == "spectral"].itertuples():
        if row.category in REFERENCES and math.isfinite(row.p_adj):
            null = not trend or (row.category == "dp" and truth.weak_references == 0)
            fired = bool(row.p_adj < ALPHA)
            claims.append(
                Claim("dose–response", "trend p_adj < 0.05", fired, fired and not null, null)
            )
    claims += _dynamics_claims(study, truth, rng, n_perm)
    outcome = adjust_tables({"spectral_vs_accuracy": spectral_vs_outcomes(
        dd, runs, metrics, rng=rng, n_boot=0, n_perm=n_perm)})["spectral_vs_accuracy"]  # fmt: skip
    for row in outcome.itertuples():
        if math.isfinite(row.p_adj):
            null = truth.acc_slope == 0
            fired = bool(row.p_adj < ALPHA)
            claims.append(Claim("outcome", "spectral vs accuracy p_adj < 0.05", fired,
                                fired and not null, null))  # fmt: skip
    return claims


def _dynamics_claims(study: SimulatedStudy, truth: Truth, rng: np.random.Generator,
                     n_perm: int) -> list[Claim]:  # fmt: skip
    curves = pd.DataFrame({
        "run_id": np.repeat([f"{c}__s{s}" for c, s in zip(study.condition, study.seed, strict=True)], 2),
        "condition": np.repeat(study.condition, 2), "category": np.repeat(study.category, 2),
        "seed": np.repeat(study.seed, 2), "step": np.tile([0, 1], len(study.condition)),
        "metric": "log_norm", "value": np.repeat(study.area, 2),
    })  # fmt: skip
    area = {c: float(np.mean(v[study.metric == "log_norm"])) if "log_norm" in study.metric
            else float(np.mean(v[study.metric == study.metric[0]]))
            for c, v in study.true_dd.items()}  # fmt: skip
    pop = truth.scenario in ("null", "random")
    out = []
    for ref, table in (("bs", trajectory_tests(curves, n_permutations=n_perm, seed=0)),
                       ("dp", trajectory_tests(curves, reference="dp", categories=["div"],
                                               n_permutations=n_perm, seed=0))):  # fmt: skip
        for row in table.itertuples():
            if not math.isfinite(row.p_holm):
                continue
            members = [c for c, k in study.categories.items() if k == row.category]
            refs = [c for c, k in study.categories.items() if k == ref]
            gap = np.mean([area[c] for c in members]) - (
                np.mean([area[c] for c in refs]) if ref != "bs" else 0.0)  # fmt: skip
            null = pop or abs(gap) == 0
            fired = bool(row.p_holm < ALPHA)
            out.append(Claim("dynamics", f"vs {'baseline' if ref == 'bs' else 'dropout'}: "
                             "p_holm < 0.05", fired, fired and not null, null))  # fmt: skip
    return out


def calibrate(case: Case, *, n_studies: int, seed: int = 0, n_perm: int = 200) -> pd.DataFrame:
    """Per (family, verdict): false-claim rate and power over ``n_studies`` simulated
    studies, with Monte-Carlo SEs that treat each study as one unit."""
    per_study: list[pd.DataFrame] = []
    for i, s in enumerate(np.random.SeedSequence(seed).spawn(n_studies)):
        rng = np.random.default_rng(s)
        study = simulate(case.shape, case.truth, case.noise, rng=rng)
        claims = pd.DataFrame(
            [c.__dict__ for c in study_claims(study, case.truth, rng=rng, n_perm=n_perm)]
        )
        claims["study"] = i
        per_study.append(claims)
    return summarise(pd.concat(per_study, ignore_index=True), case.name)


def summarise(claims: pd.DataFrame, name: str = "") -> pd.DataFrame:
    """Rates per (family, verdict) from labelled claims with a ``study`` column: a false
    claim is asserted and wrong, a find is asserted and right."""
    claims = claims.assign(wrong=claims["asserted"] & ~claims["correct"],
                           found=claims["asserted"] & claims["correct"])  # fmt: skip
    rows = []
    for (family, verdict), group in claims.groupby(["family", "verdict"], sort=False):
        n_studies = group["study"].nunique()
        for kind, part, value in (("false claims", group[group["null"]], "wrong"),
                                  ("power", group[~group["null"]], "found")):  # fmt: skip
            if part.empty:
                continue
            per = part.groupby("study")[value].mean()
            rows.append({"case": name, "family": family, "verdict": verdict, "kind": kind,
                         "rate": float(part[value].mean()),
                         "mc_se": float(per.std(ddof=1) / math.sqrt(len(per))) if len(per) > 1 else math.nan,
                         "n_tests": len(part), "n_studies": n_studies})  # fmt: skip
    return pd.DataFrame(rows)


def grid(seeds: int = 3, n_layers: int = 34) -> list[Case]:
    """The calibration grid of docs/compare.md: every scenario with realistic heterogeneity,
    and its hard variants — no or large seed shifts, weak references, unbalanced seeds."""
    shape = StudyShape(seeds=seeds, n_layers=n_layers)
    cases = [Case(s, shape, Truth(scenario=s, dp_size=1.0, wd_size=1.2, div_size=0.6))
             for s in ("null", "div_null", "div_dp", "div_wd", "div_mid", "random")]  # fmt: skip
    base = Truth(scenario="div_null", dp_size=1.0, wd_size=1.2, div_size=0.6)
    equal = replace(base, scenario="div_equal_shape")
    cases += [
        Case("div equally aligned", shape, equal),
        # weight decay moving the spectra ten times more than dropout: θ crowds toward
        # dropout whatever the shape, the cosines do not
        Case("div equally aligned, strong weight decay (×10)", shape,
             replace(equal, dp_size=0.5, wd_size=5.0)),
        Case("div equally aligned, weak dropout (×0.25)", shape,
             replace(equal, weak_references=0.25)),
        Case("div_null, no seed shift", shape, base, Noise(seed_shift=0.0)),
        Case("div_null, large seed shift", shape, base, Noise(seed_shift=3.0)),
        Case("div_null, weak dropout (×0.25)", shape, replace(base, weak_references=0.25)),
        Case("div_dp, weak dropout (×0.25)", shape,
             replace(base, scenario="div_dp", weak_references=0.25)),
        Case("null, unbalanced seeds (dp, wd 2; div 3)",
             replace(shape, seeds_by_category={"dp": 2, "wd": 2}), replace(base, scenario="null")),
        Case("div_null, two failed runs", replace(shape, drop_runs=2), base),
        Case("random, no dose trend", shape, replace(base, scenario="random", dose_trend=False)),
    ]  # fmt: skip
    return cases


def calibration_table(cases: Sequence[Case], *, n_studies: int, seed: int = 0) -> pd.DataFrame:
    """:func:`calibrate` over ``cases`` (long table)."""
    return pd.concat([calibrate(c, n_studies=n_studies, seed=seed) for c in cases],
                     ignore_index=True)  # fmt: skip
