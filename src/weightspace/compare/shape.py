"""Shape alone: is a profile more aligned with one reference's ΔΔ profile than with the
other's, whatever its size?

The fingerprint's position θ (:mod:`weightspace.compare.fingerprint`) mixes direction and
size: when one reference moves the spectra far more than the other, a small profile of any
shape sits near the other reference's end — the zero profile's own θ (``theta_zero`` in
``axis_positions``) shows where. The cosines of a profile with the two references' category
means do not depend on its size. :func:`weightspace.stats.shape.shape_alignment` tests
``S = ⟨P, A⟩|B| − ⟨P, B⟩|A| = 0`` (equally aligned; the sign says which is closer), every
inner product and norm debiased for its noise, with the seed-matched model's per-group
noise (delta method). The Fieller interval of ``cos_a − cos_b`` is withheld at both levels
(NaN bounds, :data:`UNCALIBRATED` as the reason): on simulated studies it covered the true
difference in only 86–94% at a nominal 95% — the debiased inner product with the reference a
profile is not aligned with is biased where the noise differs between categories
(docs/compare.md, *Shape alone*). The test keeps its level and stands.

Rows (``axis_shape``): every tested category (not a reference) and each of its conditions,
all metrics together, against the references' category means (``ref_a`` at θ = 0,
``ref_b`` at θ = 1). A category's test adds the spread of its conditions (a sample of
what the category could hold), as its position does. Families: data diversity's category
test belongs to the headline (Holm, with the fingerprint's headline tests; adjusted in
:func:`weightspace.compare.fingerprint.adjusted_verdicts`), the other categories and the
conditions each to an exploratory BH family.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from weightspace.compare.estimates import DatasetProfiles
from weightspace.compare.wording import ALPHA, NAMES
from weightspace.stats.shape import ShapePart, ShapeTest, shape_alignment

SHAPE_COLUMNS = ["level", "name", "category", "ref_a", "ref_b", "cos_ref_a", "cos_ref_b", "diff",
                 "ci_low", "ci_high", "ci_reason", "t", "df", "p", "family", "n_family", "p_adj",
                 "n_conditions", "verdict"]  # fmt: skip
SHAPE_CONDITION_FAMILY = "shape: conditions (BH)"
SHAPE_CATEGORY_FAMILY = "shape: other categories (BH)"
UNCALIBRATED = ("withheld as uncalibrated — 86–94% coverage at a nominal 95% in simulated "
                "studies; the test stands")  # fmt: skip


def _test(
    profiles: list[DatasetProfiles], references: Sequence[str], names: list[str], spread: bool
) -> ShapeTest | None:
    """The shape test of the mean profile of ``names`` summed over datasets; ``spread``:
    the names are a category's conditions, whose spread is part of its uncertainty."""
    parts = []
    for p in profiles:
        refs = [p.members(r) for r in references]
        if not all(refs) or not all(c in p.conditions for c in names):
            return None
        members = skip = None
        if spread and len(names) > 1:
            members = np.stack([p.versus_baseline(c) for c in names])
            skip = np.isin(p.fit.design.condition, [p.conditions.index(c) for c in names])
        scales = np.unique(p.metric, return_inverse=True)[1]  # one noise SD per metric
        parts.append(ShapePart(p.model, p.centroid(names), p.centroid(refs[0]),
                               p.centroid(refs[1]), members, skip, scales))  # fmt: skip
    return shape_alignment(parts)


def _withheld(test: ShapeTest | None) -> ShapeTest | None:
    """``test`` without its interval where one was computed (or failed only for want of
    separated sizes): the interval is not calibrated (module docstring)."""
    if test is None or not (math.isfinite(test.diff) and math.isfinite(test.p)):
        return test
    return replace(test, ci_low=math.nan, ci_high=math.nan, reason=UNCALIBRATED)


def _row(level: str, name: str, category: str, references: Sequence[str],
         test: ShapeTest | None, n_conditions: int) -> dict[str, object]:  # fmt: skip
    nan = math.nan
    reason = test.reason if test else "needs two reference categories with conditions"
    return {
        "level": level, "name": name, "category": category, "ref_a": references[0],
        "ref_b": references[1], "cos_ref_a": test.cos_a if test else nan,
        "cos_ref_b": test.cos_b if test else nan, "diff": test.diff if test else nan,
        "ci_low": test.ci_low if test else nan, "ci_high": test.ci_high if test else nan,
        "ci_reason": reason, "t": test.t if test else nan, "df": test.df if test else nan,
        "p": test.p if test else nan, "family": "", "n_family": nan, "p_adj": nan,
        "n_conditions": n_conditions, "verdict": "",
    }  # fmt: skip


def shape_rows(
    profiles: list[DatasetProfiles],
    references: Sequence[str],
    *,
    conditions: bool = True,
    raw_intervals: bool = False,
) -> list[dict[str, object]]:
    """The shape test of every tested category (and, with ``conditions``, of each of its
    conditions) against the two references (rows of :data:`SHAPE_COLUMNS`, unadjusted).
    The interval of cos_a − cos_b is withheld unless ``raw_intervals`` (for studies of its
    coverage only: it is not calibrated)."""
    if len(references) != 2 or not profiles:
        return []
    keep = (lambda t: t) if raw_intervals else _withheld
    first = profiles[0]
    names = [c for c in first.conditions if c != first.baseline]
    tested = [k for k in dict.fromkeys(first.category[c] for c in names) if k not in references]
    rows = []
    for cat in tested:
        members = first.members(cat)
        if conditions:
            for c in members:
                rows.append(_row("condition", c, cat, references,
                                 keep(_test(profiles, references, [c], False)), 1))  # fmt: skip
        rows.append(_row("category", cat, cat, references,
                         keep(_test(profiles, references, members, True)), len(members)))  # fmt: skip
    return rows


def shape_verdict(row: dict[str, object], *, noise_known: bool,
                  unmoved: Sequence[str] = ()) -> str:  # fmt: skip
    """The verdict of one adjusted shape row; ``unmoved``: the references that did not
    detectably move the spectra."""
    if not noise_known:
        return "not tested (one seed: no noise estimate)"
    p_adj = float(row["p_adj"])  # type: ignore[arg-type]
    if not math.isfinite(p_adj):
        return f"not tested ({row['ci_reason'] or 'no test'})"
    a, b = str(row["ref_a"]), str(row["ref_b"])
    first, second = NAMES.get(a, a), NAMES.get(b, b)
    if p_adj >= ALPHA:
        return (f"no evidence that its shape is closer to {first}'s than to {second}'s, or "
                "the reverse")  # fmt: skip
    near, other = (a, b) if float(row["t"]) > 0 else (b, a)  # type: ignore[arg-type]
    text = f"its shape is closer to {NAMES.get(near, near)}'s than to {NAMES.get(other, other)}'s"
    if near in unmoved:
        text += (f"; but {NAMES.get(near, near)} itself did not detectably move the spectra, "
                 "so its own shape is mostly noise")  # fmt: skip
    return text
