"""The power tool: simulate a study design with the noise and effect sizes of a finished (or
pilot) study, and say how often each main verdict would be found and how often it would be
falsely claimed.

From the study (:func:`plan_from_profiles`):

* **effects** — every condition's ΔΔ profile (on the metrics' noise scale), shrunk toward 0
  in three levels (the mean over all conditions, each category's mean about it, each
  condition about its category's; each by the positive-part James–Stein factor
  ``√max(0, 1 − E|noise|² / |x|²)``) so that noise in the estimate is not mistaken for
  effect; a condition of the design that the study did not run takes its category's mean;
* **noise** — each category's noise level per cell, and the cells' correlation shape: the
  pooled standardised residual covariance, shrunk toward its diagonal until its effective
  dimension equals the bias-corrected estimate (:func:`weightspace.stats.linear.effective_dimension`).
  Seed shifts are not needed: the seed-matched model removes them exactly.

:func:`power_table` draws ``n_sims`` studies of the design (conditions × seeds, baseline
seeds) at those effects and counts each verdict (power), then ``n_sims`` with nothing to
find — no effect anywhere; data diversity exactly half-way between the two references (for
its position); data diversity equally aligned with both (for its shape: equal cosines) —
and counts the same verdicts (false-claim rate). Monte-Carlo SEs use the study as the unit.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from weightspace.compare import rotation
from weightspace.compare.categories import BASELINE
from weightspace.compare.contrasts import category_tests
from weightspace.compare.delta import MAIN_METRICS, delta_table, resolve_metrics
from weightspace.compare.estimates import DatasetProfiles, dataset_profiles, profiles_from_matrix
from weightspace.compare.fingerprint import ALPHA, REFERENCES, adjusted_verdicts, position_rows
from weightspace.compare.load import load_layers, load_runs
from weightspace.compare.multiplicity import PRIMARY_PAIRS, adjust_tables, family_key
from weightspace.compare.shape import shape_rows
from weightspace.compare.simulate import draw, equally_aligned
from weightspace.errors import ConfigError, DataError
from weightspace.stats.groups import two_group_test
from weightspace.stats.linear import effective_dimension
from weightspace.stats.multiplicity import holm

COLUMNS = ["family", "verdict", "n_tests", "power", "power_se", "false_claims",
           "false_claims_se", "null"]  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """A design and the truth to simulate it with (cells on the metrics' noise scale)."""

    categories: Mapping[str, str]  # condition → category (the baseline included)
    strengths: Mapping[str, float]
    seeds: Mapping[str, tuple[int, ...]]  # condition → the seeds it runs at
    mu: Mapping[str, np.ndarray]  # condition → true ΔΔ (P,)
    sd: Mapping[str, float]  # category → noise SD per cell
    factor: np.ndarray  # (P, P) square root of the cell correlation
    metric: np.ndarray
    layer: np.ndarray
    baseline: str = BASELINE

    def with_design(self, seeds: Mapping[str, int | Sequence[int]],
                    categories: Mapping[str, str] | None = None,
                    strengths: Mapping[str, float] | None = None) -> Plan:  # fmt: skip
        """The same truth on another design: the seeds of each condition (a list, or a
        number n for seeds 0..n−1); a condition the study did not run takes its category's
        mean effect, or none."""
        categories = dict(categories or self.categories)
        missing = sorted(set(seeds) - set(categories))
        if missing:
            raise ConfigError(f"conditions {missing} have no category in the plan")
        mu = {}
        for c in seeds:
            if c in self.mu:
                mu[c] = self.mu[c]
            else:
                same = [v for k, v in self.mu.items() if self.categories.get(k) == categories[c]]
                mu[c] = np.mean(same, 0) if same else np.zeros(len(self.metric))
        lists = {c: tuple(range(v)) if isinstance(v, int) else tuple(v) for c, v in seeds.items()}
        return replace(self, categories=categories, seeds=lists, mu=mu,
                       strengths=dict(strengths or self.strengths))  # fmt: skip


def plan_from_profiles(fit: DatasetProfiles, strengths: Mapping[str, float] | None = None) -> Plan:
    """The truth and design of one dataset of a finished study (module docstring)."""
    lin = fit.fit
    seed_codes = {s: i for i, s in enumerate(lin.design.seeds)}
    seeds = {c: tuple(sorted(seed_codes[lin.design.seeds[s]] for s in lin.design.seed[lin.design.condition == i]))
             for i, c in enumerate(fit.conditions)}  # fmt: skip
    sd = {}
    for g, labels in enumerate(_group_labels(fit)):
        for label in labels:
            sd[label] = math.sqrt(float(fit.model.traces[g]) / lin.y.shape[1])
    return Plan(categories=dict(fit.category), strengths=dict(strengths or {}), seeds=seeds,
                mu=_shrunk_effects(fit), sd=sd, factor=_shape_factor(fit), metric=fit.metric,
                layer=fit.layer, baseline=fit.baseline)  # fmt: skip


def _shrunk_effects(fit: DatasetProfiles) -> dict[str, np.ndarray]:
    """Every condition's ΔΔ profile, shrunk in three levels, each by the positive-part
    James–Stein factor ``√max(0, 1 − E|noise|²/|x|²)`` of its own noise: the mean of all
    conditions against the baseline (it carries the baseline's noise), each category's
    mean about it, and each condition about its category's mean. Shrinking each profile
    whole would remove the baseline's noise once per category — it cancels between
    categories — and keep noise in random directions that average out in a category's mean:
    what the categories share and how they differ would both be understated."""
    lin = fit.fit
    t_run = fit.model.run_traces()

    def shrink(contrast: np.ndarray) -> np.ndarray:
        b = lin.weights(contrast)
        value = b @ lin.y
        energy = float(value @ value)
        noise = float(np.sum(b * b * t_run))
        return value * math.sqrt(max(0.0, 1.0 - noise / energy)) if energy > 0 else value * 0

    names = [c for c in fit.conditions if c != fit.baseline]
    grand = fit.centroid(names)
    common = shrink(grand)
    out: dict[str, np.ndarray] = {}
    for category in dict.fromkeys(fit.category[c] for c in names):
        members = fit.members(category)
        centre = fit.centroid(members)
        shared = common + shrink(centre - grand)
        for c in members:
            own = shrink(fit.versus_baseline(c) - centre) if len(members) > 1 else 0.0
            out[c] = shared + own
    return out


def _group_labels(fit: DatasetProfiles) -> list[list[str]]:
    """The categories of each noise group of the fit (several where groups were pooled)."""
    lin = fit.fit
    out = []
    for g in range(lin.n_groups):
        codes = sorted(set(lin.design.group[lin.group_of_run == g].tolist()))
        out.append([str(lin.design.groups[c]) for c in codes])
    return out


def _shape_factor(fit: DatasetProfiles) -> np.ndarray:
    """A square root of the pooled residual correlation, shrunk toward its diagonal until
    its effective dimension matches the bias-corrected estimate; unit mean variance."""
    lin, model = fit.fit, fit.model
    z = lin.residuals / np.sqrt(model.traces[lin.group_of_run] / lin.y.shape[1])[:, None]
    cov = z.T @ z / max(lin.residual_df, 1.0)
    cov *= len(cov) / max(np.trace(cov), 1e-300)
    diag = np.diag(np.diag(cov))
    target = effective_dimension(lin, model.traces)

    def h(lam: float) -> float:
        c = (1 - lam) * cov + lam * diag
        return float(np.trace(c) ** 2 / np.sum(c * c))

    low, high = 0.0, 1.0
    if h(0.0) < target:
        for _ in range(40):
            mid = (low + high) / 2
            low, high = (mid, high) if h(mid) < target else (low, mid)
    shrunk = (1 - high) * cov + high * diag
    vals, vecs = np.linalg.eigh(shrunk)
    out: np.ndarray = vecs * np.sqrt(np.maximum(vals, 0.0))
    return out


def _midpoint(plan: Plan, rng: np.random.Generator) -> Plan:
    """Data diversity exactly half-way between the references' centroids (θ = ½), each
    condition keeping the size of its part orthogonal to the axis."""
    cats = plan.categories
    c_dp = np.mean([plan.mu[c] for c in plan.mu if cats[c] == REFERENCES[0]], 0)
    c_wd = np.mean([plan.mu[c] for c in plan.mu if cats[c] == REFERENCES[1]], 0)
    axis = c_wd - c_dp
    mu = dict(plan.mu)
    for c in plan.mu:
        if cats[c] == "div":
            own = plan.mu[c] - (plan.mu[c] @ axis) / max(axis @ axis, 1e-300) * axis
            mu[c] = 0.5 * (c_dp + c_wd) + own
    return replace(plan, mu=mu)


def _equal_shape(plan: Plan) -> Plan:
    """Every data-diversity condition equally aligned with both references' centroids
    (equal cosines: the shape test's null), each keeping the rest of its profile."""
    cats = plan.categories
    c_dp = np.mean([plan.mu[c] for c in plan.mu if cats[c] == REFERENCES[0]], 0)
    c_wd = np.mean([plan.mu[c] for c in plan.mu if cats[c] == REFERENCES[1]], 0)
    mu = {c: equally_aligned(v, c_dp, c_wd) if cats[c] == "div" else v
          for c, v in plan.mu.items()}  # fmt: skip
    return replace(plan, mu=mu)


def simulate_plan(plan: Plan, rng: np.random.Generator) -> DatasetProfiles:
    """One simulated study of ``plan``, fitted as the comparison fits a real one."""
    runs = [(c, s) for c, seeds in plan.seeds.items() for s in seeds]
    study = draw(plan.mu, plan.categories, plan.strengths, runs, metric=plan.metric,
                 layer=plan.layer, sd=plan.sd, factor=plan.factor, seed_shift=0.0, rng=rng)  # fmt: skip
    return profiles_from_matrix("sim", study.delta, study.condition, study.seed,
                                list(study.category), study.metric, study.layer,
                                baseline=plan.baseline)  # fmt: skip


def _verdicts(fit: DatasetProfiles, rng: np.random.Generator) -> list[tuple[str, str, bool]]:
    """(family, verdict, asserted) for the main verdicts of one simulated study (the same
    functions as the comparison, without its tables)."""
    shapes = shape_rows([fit], REFERENCES, conditions=False)
    rows, shapes = adjusted_verdicts(position_rows([fit], []), shapes, noise_known=fit.noise_known)
    out = []
    for row in shapes:
        if row["name"] == "div":
            verdict = str(row["verdict"])
            out.append(("headline", "div: shape closer to one reference",
                        verdict.startswith("its shape is closer")))  # fmt: skip
            out.append(("headline", "div: shape closer to dropout",
                        verdict.startswith("its shape is closer to dropout")))  # fmt: skip
    for row in rows:
        verdict = str(row["verdict"])
        moved = verdict.startswith(("moved", "acts"))
        name, category = str(row["name"]), str(row["category"])
        if row["level"] == "category":
            family = family_key(str(row["family"]))
            out.append((family, f"{name}: moved the spectra", moved))
            if row["role"] != "reference":
                out.append((family, f"{name}: closer to one reference", verdict.startswith("acts")))
                out.append((family, f"{name}: closer to dropout", "acts like dropout" in verdict))
        elif row["role"] == "reference":
            out.append(("reference check", f"{category} condition recognised as {category}",
                        verdict.startswith(f"acts like {_name(category)}")))  # fmt: skip
        else:
            out.append(("conditions", f"{category} condition: moved", moved))
            out.append(("conditions", f"{category} condition: acts like a reference",
                        verdict.startswith("acts")))  # fmt: skip
    out.extend(_primary(fit, rng))
    return out


def _primary(fit: DatasetProfiles, rng: np.random.Generator) -> list[tuple[str, str, bool]]:
    """The primary family (data diversity against each reference on the main metrics'
    layer means, Holm) straight from the fit's condition scores."""
    main = [m for m in MAIN_METRICS if (fit.metric == m).any()]
    base = fit.fit.means[fit.conditions.index(fit.baseline)]
    names, ps = [], []
    for a, b in PRIMARY_PAIRS:
        idx_a = [i for i, c in enumerate(fit.conditions) if fit.category.get(c) == a]
        idx_b = [i for i, c in enumerate(fit.conditions) if fit.category.get(c) == b]
        if not idx_a or not idx_b:
            continue
        for m in main:
            cols = fit.metric == m
            score = (fit.fit.means[:, cols] - base[cols]).mean(1)
            test = two_group_test(score[idx_a], score[idx_b], rng=rng, n_perm=200,
                                  effect_size=False)  # fmt: skip
            names.append(f"{a} vs {b} on {m}")
            ps.append(test.p)
    adjusted = holm(np.array(ps))
    return [("primary", n, bool(p < ALPHA)) for n, p in zip(names, adjusted, strict=True)]


def _name(category: str) -> str:
    return {"dp": "dropout", "wd": "weight decay"}.get(category, category)


def _rates(plan: Plan, n_sims: int, rng: np.random.Generator) -> pd.DataFrame:
    rows: list[dict[str, object]] = []
    for i in range(n_sims):
        fit = simulate_plan(plan, rng)
        rows.extend(
            {"sim": i, "family": f, "verdict": v, "asserted": a} for f, v, a in _verdicts(fit, rng)
        )
    frame = pd.DataFrame(rows)
    per = frame.groupby(["family", "verdict", "sim"], sort=False)["asserted"].mean()
    grouped = per.groupby(level=["family", "verdict"], sort=False)
    out = pd.DataFrame({"rate": grouped.mean(), "se": grouped.std(ddof=1) / math.sqrt(n_sims),
                        "n_tests": frame.groupby(["family", "verdict"], sort=False).size() / n_sims})  # fmt: skip
    return out


def power_table(plan: Plan, *, n_sims: int = 100, seed: int = 0) -> pd.DataFrame:
    """Power at the plan's effects and false-claim rates with nothing to find (module doc)."""
    if n_sims < 2:
        raise ConfigError(f"n_sims must be ≥ 2, got {n_sims}")
    rng = np.random.default_rng(seed)
    at_effects = _rates(plan, n_sims, rng)
    nothing = _rates(replace(plan, mu={c: 0 * v for c, v in plan.mu.items()}), n_sims, rng)
    has_refs = all(any(k == r for k in plan.categories.values()) for r in REFERENCES)
    midpoint = _rates(_midpoint(plan, rng), n_sims, rng) if has_refs else None
    equal = _rates(_equal_shape(plan), n_sims, rng) if has_refs else None
    rows: list[dict[str, object]] = []
    for (family, verdict), row in at_effects.iterrows():
        axis = "closer" in verdict or "acts like" in verdict
        null_rates, null = nothing, "no effect anywhere"
        if axis and equal is not None and verdict.startswith("div: shape"):
            null_rates, null = equal, "data diversity equally aligned with both (equal cosines)"
        elif axis and midpoint is not None and verdict.startswith("div"):
            null_rates, null = midpoint, "data diversity half-way (θ = ½)"
        false = null_rates.loc[(family, verdict)] if (family, verdict) in null_rates.index else None
        rows.append({"family": family, "verdict": verdict, "n_tests": float(row["n_tests"]),
                     "power": float(row["rate"]), "power_se": float(row["se"]),
                     "false_claims": float(false["rate"]) if false is not None else math.nan,
                     "false_claims_se": float(false["se"]) if false is not None else math.nan,
                     "null": null})  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def rotation_power(per_run: pd.DataFrame, *, baseline: str = BASELINE, n_sims: int = 100,
                   seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """Power of the rotation tests (category pairs on the subspace overlap and the update
    size, BH) at this study's condition scores: each simulated study draws every
    condition's score from its observed mean and seed-level standard error. The observed
    spread between conditions already holds their noise, so the noise is counted twice:
    conservative."""
    scores = rotation.tested_scores(per_run, baseline=baseline)
    metrics = list(rotation.TESTED)
    per_cond = per_run[per_run["category"] != baseline].groupby("condition")[metrics]
    se = (per_cond.std(ddof=1) / np.sqrt(per_cond.count())).reindex(scores["condition"])
    se = se.fillna(0.0).to_numpy()
    rng = np.random.default_rng(seed)
    hits: dict[str, list[float]] = {}
    for _ in range(n_sims):
        sim = scores.copy()
        sim[metrics] = scores[metrics].to_numpy() + se * rng.standard_normal(se.shape)
        tests = adjust_tables({"rotation_tests": category_tests(
            sim, metrics, rng=rng, n_perm=200, effect_size=False)})["rotation_tests"]  # fmt: skip
        for row in tests.itertuples():
            hits.setdefault(f"rotation: {row.a} vs {row.b} on {row.metric}", []).append(
                float(row.p_adj < ALPHA)
            )
    rows = [{"family": "rotation", "verdict": k, "n_tests": 1.0, "power": float(np.mean(v)),
             "power_se": float(np.std(v, ddof=1) / math.sqrt(len(v))), "false_claims": math.nan,
             "false_claims_se": math.nan, "null": ""} for k, v in hits.items()]  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def plan_from_study(path: str | os.PathLike[str], *, metrics: Sequence[str] | None = None) -> Plan:
    """:func:`plan_from_profiles` of a finished (or pilot) study directory — its largest
    dataset — with each condition's strength from its runs table."""
    layers = load_layers(path)
    metrics = resolve_metrics(layers, metrics)
    delta = delta_table(layers, metrics=metrics, align="layer_id", drop_frozen=True)
    fits = dataset_profiles(delta, metrics, "layer_id")
    if not fits:
        raise DataError(f"{path}: no layer observed in every run; nothing to estimate power from")
    if not all(f.noise_known for f in fits):
        raise DataError(
            f"{path}: every condition has one seed, so the study's noise is unknown; the power "
            "tool needs a study (or pilot) with at least two seeds"
        )
    runs = load_runs(path)
    strengths: dict[str, float] = {}
    if runs is not None and "strength" in runs.columns:
        strengths = runs.groupby("condition")["strength"].first().astype(float).to_dict()
    largest = max(fits, key=lambda f: f.fit.design.n_runs)
    return plan_from_profiles(largest, strengths)
