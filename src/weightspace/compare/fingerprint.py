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
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
import pandas as pd

from weightspace.compare.estimates import DatasetProfiles
from weightspace.compare.shape import (
    SHAPE_CATEGORY_FAMILY,
    SHAPE_COLUMNS,
    SHAPE_CONDITION_FAMILY,
    shape_rows,
    shape_verdict,
)
from weightspace.compare.wording import ALPHA, NAMES
from weightspace.errors import ConfigError
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

REFERENCES = (Category.DP.value, Category.WD.value)  # the axis: 0 at the first, 1 at the second
HEADLINE_FAMILY = "headline (Holm)"
CONDITION_FAMILY = "fingerprint: conditions (BH)"
REFERENCE_FAMILY = "fingerprint: reference check (BH)"
CATEGORY_FAMILY = "fingerprint: other categories (BH)"
METRIC_FAMILY = "axis per metric (exploratory, BH)"
POSITION_COLUMNS = ["level", "name", "category", "metric", "theta", "ci_low", "ci_high",
                    "ci_reason", "theta_zero", "theta_zero_low", "theta_zero_high", "t_mid", "df",
                    "p_axis", "signal", "p_moved", "n_conditions", "n_seeds"]  # fmt: skip
VERDICT_COLUMNS = ["level", "name", "category", "role", "theta", "ci_low", "ci_high", "ci_reason",
                   "theta_zero", "theta_zero_low", "theta_zero_high", "p_axis", "p_axis_adj",
                   "signal", "p_moved", "p_moved_adj", "family", "n_family", "n_conditions",
                   "n_seeds", "verdict"]  # fmt: skip
REFERENCE_REASON = "a reference: its position is 0 or 1 by definition"
NO_AXIS_REASON = "needs two reference categories with conditions in every dataset"


def check_references(references: Sequence[str]) -> tuple[str, str]:
    """The fingerprint's two references (first at θ = 0, second at θ = 1), validated."""
    refs = [str(r) for r in references]
    if len(refs) != 2 or refs[0] == refs[1]:
        raise ConfigError(
            f"the fingerprint places profiles between exactly two different reference "
            f"categories (the first at θ = 0, the second at θ = 1), got {refs}; pass two, "
            "e.g. references=('dp', 'wd') or --reference dp --reference wd"
        )
    return refs[0], refs[1]


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
        # all metrics together: each was divided by its own estimated noise SD
        scales = np.unique(p.metric, return_inverse=True)[1] if view == "all" else None
        parts.append(AxisPart(model, a, v, skip, scales))
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
         n_conditions: int, n_seeds: float, *, zero: AxisPosition | None,
         reason: str = NO_AXIS_REASON) -> dict[str, object]:  # fmt: skip
    nan = math.nan
    return {
        "level": level, "name": name, "category": category, "metric": view,
        "theta": pos.theta if pos else nan, "ci_low": pos.ci_low if pos else nan,
        "ci_high": pos.ci_high if pos else nan, "ci_reason": pos.reason if pos else reason,
        "theta_zero": zero.theta if zero else nan, "theta_zero_low": zero.ci_low if zero else nan,
        "theta_zero_high": zero.ci_high if zero else nan,
        "t_mid": pos.t_mid if pos else nan, "df": pos.df if pos else nan,
        "p_axis": pos.p_mid if pos else nan,
        "signal": moved.signal if moved else nan, "p_moved": moved.p if moved else nan,
        "n_conditions": n_conditions, "n_seeds": n_seeds,
    }  # fmt: skip


def _ordered(categories: list[str], references: Sequence[str]) -> list[str]:
    """``categories`` with the references, where they stand, in the references' own order
    (the first at θ = 0 comes first), so that the table says which end is which."""
    refs = iter([r for r in references if r in categories])
    return [next(refs) if c in references else c for c in categories]


def position_rows(
    profiles: list[DatasetProfiles], metrics: Sequence[str], references: Sequence[str] = REFERENCES
) -> list[dict[str, object]]:
    """Every condition and category placed on the axis, for all metrics together and per
    metric, with its moved test and the position of the zero profile on the same axis
    (``theta_zero``: where no change at all would sit; rows of :data:`POSITION_COLUMNS`)."""
    views = _Views.of(profiles, metrics, references)
    first = profiles[0]
    conditions = [c for c in first.conditions if c != first.baseline]
    categories = _ordered(list(dict.fromkeys(first.category[c] for c in conditions)), references)
    seeds = {c: _n_seeds(profiles, c) for c in conditions}
    rows = []
    for view in views.models:
        zero = _place(views, view, {}, None)  # the zero profile: a = −(first centroid)
        for c in conditions:
            cat = first.category[c]
            leave = c if cat in references else None
            pos = _place(views, view, {c: 1.0}, leave)
            own_zero = _place(views, view, {}, leave) if leave else zero
            rows.append(_row("condition", c, cat, view, pos, _moved(views, view, {c: 1.0}), 1,
                             seeds[c], zero=own_zero))  # fmt: skip
        for cat in categories:
            members = first.members(cat)
            mean = {c: 1.0 / len(members) for c in members}
            ref = cat in references
            pos = None if ref else _place(views, view, mean, None, spread=members)
            rows.append(_row("category", cat, cat, view, pos, _moved(views, view, mean),
                             len(members), float(np.mean([seeds[c] for c in members])), zero=zero,
                             reason=REFERENCE_REASON if ref else NO_AXIS_REASON))  # fmt: skip
    return rows


def _n_seeds(profiles: list[DatasetProfiles], condition: str) -> float:
    counts = [int(np.sum(p.fit.design.condition == p.conditions.index(condition)))
              for p in profiles if condition in p.conditions]  # fmt: skip
    return float(np.mean(counts)) if counts else math.nan


class Verdicts(NamedTuple):
    """The adjusted fingerprint rows (:data:`VERDICT_COLUMNS`) and shape rows
    (:data:`weightspace.compare.shape.SHAPE_COLUMNS`)."""

    fingerprint: list[dict[str, object]]
    shape: list[dict[str, object]]


def adjusted_verdicts(
    rows: Sequence[dict[str, object]],
    shape: Sequence[dict[str, object]] = (),
    *,
    noise_known: bool,
    references: Sequence[str] = REFERENCES,
    prefix: str = "",
) -> Verdicts:
    """The adjusted verdicts of the all-metrics position rows and of the shape rows: plain
    dictionaries, so that simulations can call this thousands of times. The headline
    family (Holm) holds whether data diversity and each reference moved the spectra, data
    diversity's position and its shape test. ``prefix``: put before every family's name
    (a dataset's own families)."""
    out = [dict(r) for r in rows if r["metric"] == "all"]
    for r in out:
        r["role"] = "reference" if r["category"] in references else "tested"
        r["family"], r["n_family"] = "", math.nan
        r["p_moved_adj"] = r["p_axis_adj"] = math.nan
    shapes = [dict(r) for r in shape]

    def pick(level: str, test: Callable[[dict[str, object]], bool]) -> list[dict[str, object]]:
        return [r for r in out if r["level"] == level and test(r)]

    _adjust(pick("condition", lambda r: r["role"] == "tested"), prefix + CONDITION_FAMILY,
            benjamini_hochberg)  # fmt: skip
    _adjust(pick("condition", lambda r: r["role"] == "reference"), prefix + REFERENCE_FAMILY,
            benjamini_hochberg)  # fmt: skip
    main = {"div", *references}
    headline_shape = [r for r in shapes if r["level"] == "category" and r["name"] == "div"]
    _adjust(pick("category", lambda r: r["name"] in main), prefix + HEADLINE_FAMILY, holm,
            joint=True, shape=headline_shape)  # fmt: skip
    _adjust(pick("category", lambda r: r["name"] not in main), prefix + CATEGORY_FAMILY,
            benjamini_hochberg)  # fmt: skip
    _adjust_shape([r for r in shapes if r["level"] == "condition"],
                  prefix + SHAPE_CONDITION_FAMILY)  # fmt: skip
    _adjust_shape([r for r in shapes if r["level"] == "category" and r["name"] != "div"],
                  prefix + SHAPE_CATEGORY_FAMILY)  # fmt: skip
    moved_refs: dict[str, bool | None] = {}
    for r in pick("category", lambda r: r["name"] in references):
        p = float(r["p_moved_adj"])  # type: ignore[arg-type]
        moved_refs[str(r["name"])] = p < ALPHA if math.isfinite(p) else None
    for r in out:
        r["verdict"] = _verdict(r, moved_refs, noise_known, tuple(references))
    unmoved = [k for k, moved in moved_refs.items() if moved is False]
    for r in shapes:
        r["verdict"] = shape_verdict(r, noise_known=noise_known, unmoved=unmoved)
    return Verdicts(out, shapes)


def _adjust(rows: list[dict[str, object]], family: str,
            method: Callable[[np.ndarray], np.ndarray], joint: bool = False,
            shape: Sequence[dict[str, object]] = ()) -> None:  # fmt: skip
    """Adjust ``p_moved`` and ``p_axis`` of ``rows``: each on its own (BH), or both and
    the ``p`` of the ``shape`` rows as one family (``joint``, the headline's Holm)."""
    if not rows:
        return
    moved = np.array([r["p_moved"] for r in rows], dtype=float)
    axis = np.array([r["p_axis"] for r in rows], dtype=float)
    shapes = np.array([r["p"] for r in shape], dtype=float)
    if joint:
        adjusted = method(np.concatenate([moved, axis, shapes]))
        moved_adj, axis_adj = adjusted[: len(moved)], adjusted[len(moved) : 2 * len(moved)]
        shape_adj = adjusted[2 * len(moved) :]
        n = int(sum(np.isfinite(x).sum() for x in (moved, axis, shapes)))
    else:
        moved_adj, axis_adj, shape_adj = method(moved), method(axis), method(shapes)
        n = int(np.isfinite(moved).sum())
    for r, pm, pa in zip(rows, moved_adj, axis_adj, strict=True):
        r.update(family=family, n_family=n, p_moved_adj=float(pm), p_axis_adj=float(pa))
    for r, ps in zip(shape, shape_adj, strict=True):
        r.update(family=family, n_family=n, p_adj=float(ps))


def _adjust_shape(rows: list[dict[str, object]], family: str) -> None:
    """An exploratory family of shape tests (BH)."""
    if not rows:
        return
    p = np.array([r["p"] for r in rows], dtype=float)
    n = int(np.isfinite(p).sum())
    for r, adj in zip(rows, benjamini_hochberg(p), strict=True):
        r.update(family=family, n_family=n, p_adj=float(adj))


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


def _undebiased(profiles: DatasetProfiles) -> DatasetProfiles:
    """``profiles`` with no noise to subtract (a study of one seed has no estimate of it)."""
    model = replace(profiles.model, traces=np.zeros_like(profiles.model.traces))
    return replace(profiles, model=model)


def fingerprint_tables(
    profiles: list[DatasetProfiles],
    metrics: Sequence[str],
    references: Sequence[str] = REFERENCES,
    *,
    shape: bool = True,
    prefix: str = "",
) -> dict[str, pd.DataFrame]:
    """``axis_positions`` (every condition and category, all metrics and each metric),
    ``fingerprint`` (the adjusted verdicts) and, with ``shape``, ``axis_shape`` (the
    size-free shape tests, :mod:`weightspace.compare.shape`). ``prefix``: before every
    family's name (a dataset's own fingerprint)."""
    if not profiles:
        empty = pd.DataFrame(columns=POSITION_COLUMNS)
        out = {"axis_positions": empty, "fingerprint": pd.DataFrame(columns=VERDICT_COLUMNS)}
        return out | ({"axis_shape": pd.DataFrame(columns=SHAPE_COLUMNS)} if shape else {})
    known = all(p.noise_known for p in profiles)
    # one seed: no noise to debias with, so θ and θ₀ are the plain ratios (descriptive)
    placed = profiles if known else [_undebiased(p) for p in profiles]
    rows = position_rows(placed, metrics, references)
    shapes = shape_rows(profiles, references) if shape else []
    if not known:  # one seed: no residual, so nothing can be tested
        for row in rows:
            row.update(ci_low=math.nan, ci_high=math.nan, t_mid=math.nan, p_axis=math.nan,
                       p_moved=math.nan, theta_zero_low=math.nan, theta_zero_high=math.nan,
                       ci_reason="one seed: no noise estimate")  # fmt: skip
        for row in shapes:
            row.update({k: math.nan for k in ("cos_ref_a", "cos_ref_b", "diff", "ci_low",
                                              "ci_high", "t", "df", "p")},
                       ci_reason="one seed: no noise estimate")  # fmt: skip
    verdicts = adjusted_verdicts(rows, shapes, noise_known=known, references=references,
                                 prefix=prefix)  # fmt: skip
    positions = pd.DataFrame(rows, columns=POSITION_COLUMNS)
    per_metric = positions["metric"] != "all"
    positions["family"], positions["p_axis_adj"] = "", np.nan
    if per_metric.any():  # per-metric rows: one exploratory family
        positions.loc[per_metric, "family"] = prefix + METRIC_FAMILY
        positions.loc[per_metric, "p_axis_adj"] = benjamini_hochberg(
            positions.loc[per_metric, "p_axis"].to_numpy(float)
        )
    out = {"axis_positions": positions,
           "fingerprint": pd.DataFrame(verdicts.fingerprint, columns=VERDICT_COLUMNS)}  # fmt: skip
    if shape:
        out["axis_shape"] = pd.DataFrame(verdicts.shape, columns=SHAPE_COLUMNS)
    return out
