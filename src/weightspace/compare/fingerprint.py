"""Regularizer fingerprint: where does a condition's ΔΔ profile sit between dropout's and
weight decay's, and did it move the spectra at all?

A profile is a condition's ΔΔ over every (metric, layer) cell, from the seed-matched
linear model (:mod:`weightspace.compare.estimates`; metrics on their noise scale). Two
questions, each with its own test (:mod:`weightspace.stats.profiles`):

* **moved** — is the profile different from the baseline at all? An omnibus test of
  "every cell's ΔΔ is 0" (a condition against the baseline; a category's mean profile
  against the baseline). Here the baseline's own noise does not cancel and is carried.
* **axis position** ``θ`` — 0 at the dropout centroid's profile, 1 at weight decay's:
  ``θ = ⟨p − c_dp, c_wd − c_dp⟩ / |c_wd − c_dp|²``, debiased for noise, with a Fieller
  interval and a test of θ = ½ ("closer to dropout than to weight decay", equivalently
  ``|p − c_wd|² − |p − c_dp|² > 0``). Every profile subtracts the same baseline, so the
  baseline's noise cancels exactly in θ. A reference condition is placed against the
  centroids of the *other* conditions of its category (leave-one-out).

A category's position is its mean profile's; its interval adds the spread of its conditions'
positions (conditions are a sample of what the category could hold). Verdicts are made on
adjusted p-values only, in three families: the **headline** (Holm: data diversity's axis
test and whether data diversity, dropout and weight decay each moved the spectra), the
**conditions** tested (BH over the non-reference conditions, moved and axis separately), and
the **reference check** (BH over the dropout and weight-decay conditions themselves, which
are not in the family they calibrate). When dropout itself did not detectably move the
spectra, "closer to dropout" cannot be told from "no effect", and the verdict says so.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from weightspace.compare.conclude import NAMES
from weightspace.compare.estimates import DatasetProfiles
from weightspace.stats.multiplicity import benjamini_hochberg, holm
from weightspace.stats.profiles import (
    AxisPart,
    AxisPosition,
    NoiseModel,
    axis_position,
    debiased_inner,
    omnibus,
)
from weightspace.vocabulary import Category

log = logging.getLogger(__name__)

ALPHA = 0.05
REFERENCES = (Category.DP.value, Category.WD.value)  # the axis: 0 at the first, 1 at the second
HEADLINE_FAMILY = "headline (Holm)"
CONDITION_FAMILY = "fingerprint: conditions (BH)"
REFERENCE_FAMILY = "fingerprint: reference check (BH)"
CATEGORY_FAMILY = "fingerprint: other categories (BH)"
METRIC_FAMILY = "axis per metric (exploratory, BH)"
POSITION_COLUMNS = ["level", "name", "category", "metric", "theta", "ci_low", "ci_high",
                    "ci_reason", "t_mid", "df", "p_axis", "signal", "p_moved", "n_conditions",
                    "n_seeds"]  # fmt: skip
VERDICT_COLUMNS = ["level", "name", "category", "role", "theta", "ci_low", "ci_high", "ci_reason",
                   "p_axis", "p_axis_adj", "signal", "p_moved", "p_moved_adj", "family",
                   "n_family", "n_conditions", "n_seeds", "verdict"]  # fmt: skip


@dataclass(frozen=True)
class _Views:
    """Per dataset, the noise model of all cells and of each metric's cells."""

    profiles: list[DatasetProfiles]
    models: dict[str, list[NoiseModel]]  # "all" or a metric → one per dataset
    references: tuple[str, ...]

    @classmethod
    def of(cls, profiles: list[DatasetProfiles], metrics: Sequence[str],
           references: Sequence[str]) -> _Views:  # fmt: skip
        models = {"all": [p.model for p in profiles]}
        for m in metrics:
            if all((p.metric == m).any() for p in profiles):
                models[m] = [p.restrict(m) for p in profiles]
        return cls(profiles, models, tuple(references))


def _members(p: DatasetProfiles, category: str, leave_out: str | None = None) -> list[str]:
    return [c for c in p.members(category) if c != leave_out]


def _place(views: _Views, view: str, target: dict[str, float], leave_out: str | None,
           *, spread: list[str] | None = None) -> AxisPosition | None:  # fmt: skip
    """θ of the profile ``Σ target[c] · ΔΔ_c`` on the axis from the first reference's
    centroid to the second's (without ``leave_out``); ``spread``: the conditions whose
    spread of positions is the category's between-condition variance."""
    if len(views.references) != 2:
        return None
    parts, inner = [], []
    for p, model in zip(views.profiles, views.models[view], strict=True):
        dp, wd = (_members(p, r, leave_out) for r in views.references)
        if not dp or not wd or not all(c in p.conditions for c in target):
            return None
        c_dp = p.centroid(dp)
        v = p.centroid(wd) - c_dp
        a = p.contrast(target) - p.contrast({p.baseline: sum(target.values())}) - c_dp
        skip = None
        if spread:
            own = [p.conditions.index(c) for c in spread]
            skip = np.isin(p.fit.design.condition, own)
            inner.append([debiased_inner(model, p.versus_baseline(c) - c_dp, v) for c in spread])
        parts.append(AxisPart(model, a, v, skip))
    extra = None
    if spread and len(spread) > 1:
        per_condition = np.sum(inner, axis=0)  # (n,) summed over datasets
        extra = (float(np.var(per_condition, ddof=1)) / len(spread), float(len(spread) - 1))
    elif spread:  # one condition: its own noise stays in the model part
        return _place(views, view, target, leave_out)
    return axis_position(parts, extra=extra)


def _moved(views: _Views, view: str, target: dict[str, float]):
    parts = []
    for p, model in zip(views.profiles, views.models[view], strict=True):
        if not all(c in p.conditions for c in target):
            return None
        parts.append((model, p.contrast(target) - p.contrast({p.baseline: 1.0})))
    return omnibus(parts)


def _row(level: str, name: str, category: str, view: str, pos: AxisPosition | None, moved,
         n_conditions: int, n_seeds: float) -> dict[str, object]:  # fmt: skip
    nan = math.nan
    return {
        "level": level, "name": name, "category": category, "metric": view,
        "theta": pos.theta if pos else nan, "ci_low": pos.ci_low if pos else nan,
        "ci_high": pos.ci_high if pos else nan,
        "ci_reason": (pos.reason if pos else "no dropout and weight-decay references"),
        "t_mid": pos.t_mid if pos else nan, "df": pos.df if pos else nan,
        "p_axis": pos.p_mid if pos else nan,
        "signal": moved.signal if moved else nan, "p_moved": moved.p if moved else nan,
        "n_conditions": n_conditions, "n_seeds": n_seeds,
    }  # fmt: skip


def position_rows(
    profiles: list[DatasetProfiles], metrics: Sequence[str], references: Sequence[str] = REFERENCES
) -> list[dict[str, object]]:
    """Every condition and category placed on the axis, for all metrics together and per
    metric, with its moved test (rows of :data:`POSITION_COLUMNS`)."""
    views = _Views.of(profiles, metrics, references)
    first = profiles[0]
    conditions = [c for c in first.conditions if c != first.baseline]
    categories = list(dict.fromkeys(first.category[c] for c in conditions))
    seeds = {c: _n_seeds(profiles, c) for c in conditions}
    rows = []
    for view in views.models:
        for c in conditions:
            cat = first.category[c]
            leave = c if cat in references else None
            pos = _place(views, view, {c: 1.0}, leave)
            rows.append(_row("condition", c, cat, view, pos, _moved(views, view, {c: 1.0}), 1,
                             seeds[c]))  # fmt: skip
        for cat in categories:
            members = first.members(cat)
            mean = {c: 1.0 / len(members) for c in members}
            pos = None if cat in references else _place(views, view, mean, None, spread=members)
            rows.append(_row("category", cat, cat, view, pos, _moved(views, view, mean),
                             len(members), float(np.mean([seeds[c] for c in members]))))  # fmt: skip
    return rows


def _n_seeds(profiles: list[DatasetProfiles], condition: str) -> float:
    counts = [int(np.sum(p.fit.design.condition == p.conditions.index(condition)))
              for p in profiles if condition in p.conditions]  # fmt: skip
    return float(np.mean(counts)) if counts else math.nan


def verdict_rows(
    rows: Sequence[dict[str, object]], *, noise_known: bool, references: Sequence[str] = REFERENCES
) -> list[dict[str, object]]:
    """The adjusted verdicts of the all-metrics position rows (:data:`VERDICT_COLUMNS`):
    plain dictionaries, so that simulations can call this thousands of times."""
    out = [dict(r) for r in rows if r["metric"] == "all"]
    for r in out:
        r["role"] = "reference" if r["category"] in references else "tested"
        r["family"], r["n_family"] = "", math.nan
        r["p_moved_adj"] = r["p_axis_adj"] = math.nan

    def pick(level: str, test: Callable[[dict[str, object]], bool]) -> list[dict[str, object]]:
        return [r for r in out if r["level"] == level and test(r)]

    _adjust(pick("condition", lambda r: r["role"] == "tested"), CONDITION_FAMILY,
            benjamini_hochberg)  # fmt: skip
    _adjust(pick("condition", lambda r: r["role"] == "reference"), REFERENCE_FAMILY,
            benjamini_hochberg)  # fmt: skip
    main = {"div", *references}
    _adjust(pick("category", lambda r: r["name"] in main), HEADLINE_FAMILY, holm, joint=True)
    _adjust(pick("category", lambda r: r["name"] not in main), CATEGORY_FAMILY,
            benjamini_hochberg)  # fmt: skip
    moved_refs: dict[str, bool | None] = {}
    for r in pick("category", lambda r: r["name"] in references):
        p = float(r["p_moved_adj"])  # type: ignore[arg-type]
        moved_refs[str(r["name"])] = p < ALPHA if math.isfinite(p) else None
    for r in out:
        r["verdict"] = _verdict(r, moved_refs, noise_known, tuple(references))
    return out


def _adjust(rows: list[dict[str, object]], family: str,
            method: Callable[[np.ndarray], np.ndarray], joint: bool = False) -> None:  # fmt: skip
    """Adjust ``p_moved`` and ``p_axis`` of ``rows``: each on its own (BH), or both as one
    family (``joint``, the headline's Holm)."""
    if not rows:
        return
    moved = np.array([r["p_moved"] for r in rows], dtype=float)
    axis = np.array([r["p_axis"] for r in rows], dtype=float)
    if joint:
        adjusted = method(np.concatenate([moved, axis]))
        moved_adj, axis_adj = adjusted[: len(moved)], adjusted[len(moved) :]
        n = int(np.isfinite(moved).sum() + np.isfinite(axis).sum())
    else:
        moved_adj, axis_adj = method(moved), method(axis)
        n = int(np.isfinite(moved).sum())
    for r, pm, pa in zip(rows, moved_adj, axis_adj, strict=True):
        r.update(family=family, n_family=n, p_moved_adj=float(pm), p_axis_adj=float(pa))


def _verdict(row: dict[str, object], moved_refs: dict[str, bool | None], noise_known: bool,
             references: tuple[str, ...]) -> str:  # fmt: skip
    if not noise_known:
        return "not tested (one seed: no noise estimate)"
    p_moved, p_axis = float(row["p_moved_adj"]), float(row["p_axis_adj"])  # type: ignore[arg-type]
    if not math.isfinite(p_moved):
        return "not tested"
    if p_moved >= ALPHA:
        return "no evidence that it moved the spectra"
    if row["role"] == "reference" and row["level"] == "category":
        return "moved the spectra"
    if not math.isfinite(p_axis):
        return "moved the spectra; its place between dropout and weight decay is undetermined"
    first, second = (NAMES.get(r, r) for r in references)
    if p_axis >= ALPHA:
        return (f"moved the spectra; no evidence that it is closer to {first} than to "
                f"{second}, or the reverse")  # fmt: skip
    near, other = references if float(row["theta"]) < 0.5 else references[::-1]  # type: ignore[arg-type]
    text = (f"acts like {NAMES.get(near, near)} (closer to its ΔΔ profile than to "
            f"{NAMES.get(other, other)}'s)")  # fmt: skip
    if moved_refs.get(near) is False:
        text += (f"; but {NAMES.get(near, near)} itself did not detectably move the spectra, "
                 "so this cannot be told from a small effect unlike either")  # fmt: skip
    return text


def fingerprint_tables(
    profiles: list[DatasetProfiles],
    metrics: Sequence[str],
    references: Sequence[str] = REFERENCES,
) -> dict[str, pd.DataFrame]:
    """``axis_positions`` (every condition and category, all metrics and each metric) and
    ``fingerprint`` (the adjusted verdicts)."""
    if not profiles:
        empty = pd.DataFrame(columns=POSITION_COLUMNS)
        return {"axis_positions": empty, "fingerprint": pd.DataFrame(columns=VERDICT_COLUMNS)}
    rows = position_rows(profiles, metrics, references)
    known = all(p.noise_known for p in profiles)
    if not known:  # one seed: no residual, so nothing can be tested
        for row in rows:
            row.update(ci_low=math.nan, ci_high=math.nan, t_mid=math.nan, p_axis=math.nan,
                       p_moved=math.nan, ci_reason="one seed: no noise estimate")  # fmt: skip
    verdicts = pd.DataFrame(verdict_rows(rows, noise_known=known, references=references),
                            columns=VERDICT_COLUMNS)  # fmt: skip
    positions = pd.DataFrame(rows, columns=POSITION_COLUMNS)
    per_metric = positions["metric"] != "all"
    positions["family"], positions["p_axis_adj"] = "", np.nan
    if per_metric.any():  # per-metric rows: one exploratory family
        positions.loc[per_metric, "family"] = METRIC_FAMILY
        positions.loc[per_metric, "p_axis_adj"] = benjamini_hochberg(
            positions.loc[per_metric, "p_axis"].to_numpy(float)
        )
    return {"axis_positions": positions, "fingerprint": verdicts}
