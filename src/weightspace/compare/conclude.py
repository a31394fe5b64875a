"""Plain-language conclusions that state their uncertainty."""

from __future__ import annotations

import math

import pandas as pd

from weightspace.compare.answer import axis_sentence
from weightspace.compare.categories import BASELINE
from weightspace.compare.wording import (
    ALPHA,
    NAMES,
    finite,
    fmt_p,
    interval_text,
    name_of,
    pct,
    power_of,
)
from weightspace.vocabulary import Category

__all__ = ["ALPHA", "NAMES", "axis_sentence", "fmt_p"]  # also used by other modules


def fmt_p_adj(row) -> str:
    """ "Holm-adjusted p = …, family of N tests" for a row carrying p_adj/n_family/family."""
    adj = getattr(row, "p_adj", float("nan"))
    n = getattr(row, "n_family", float("nan"))
    family = str(getattr(row, "family", "") or "")
    method = "Holm" if "Holm" in family else "BH"
    size = f"{int(n)} tests" if finite(n) else "n/a"
    return f"{method}-adjusted {fmt_p(adj)} ({family.split(' (')[0] or 'family'}: {size})"


def _significant(row, column: str = "p_adj") -> bool:
    value = getattr(row, column, float("nan"))
    return finite(value) and float(value) < ALPHA


def _supported(row) -> bool:
    """A rank correlation worth a sentence: adjusted p < 0.05 and, where there is a CI, it
    excludes 0."""
    if not (math.isfinite(row.rho) and _significant(row)):
        return False
    return not (math.isfinite(row.ci_low) and row.ci_low * row.ci_high <= 0)


def _ci(row) -> str:
    if math.isfinite(row.ci_low):
        return f"95% CI [{row.ci_low:.2f}, {row.ci_high:.2f}]"
    return "too few points for an interval"


def fingerprint_summary(fingerprint: pd.DataFrame) -> list[str]:
    """Per category of conditions: how many got each verdict, with the family."""
    out: list[str] = []
    if fingerprint.empty:
        return out
    conds = fingerprint[fingerprint["level"] == "condition"]
    for (category, role), group in conds.groupby(["category", "role"], sort=False):
        counts = group["verdict"].astype(str).str.split(";", regex=False).str[0].value_counts()
        parts = [f"{n} {verdict}" for verdict, n in counts.items()]
        family = str(group["family"].iloc[0])
        n = float(group["n_family"].max())
        size = f"{int(n)} conditions" if math.isfinite(n) else "n/a"
        label = " (each against the others of its category)" if role == "reference" else ""
        out.append(
            f"Fingerprint of the {len(group)} {name_of(category)} conditions{label}: "
            f"{'; '.join(parts)} ({family}, {size})."
        )
    return out


PAPER_LABEL = "Paper protocol (layers as samples)"
PAPER_CAVEAT = (
    "Paper protocol caveat: these tests count the layers of one network as independent "
    "samples (n = layers, not conditions), so their p-values are optimistic; seeds, where "
    "there are several, are averaged before testing, so seed noise does not enter them; they "
    "are not adjusted for multiplicity; a pair that does not reject is absence of evidence, "
    "not evidence that they are alike. The default protocol addresses all of these."
)


def paper_conclusions(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Sentences for the paper protocol, each labelled as such: what separates which
    categories by the authors' tests, then the caveat."""
    out = []
    anova, ttests = tables["anova"], tables["ttests"]
    for row in anova.itertuples():
        pairs = ttests[ttests["metric"] == row.metric]
        if not math.isfinite(row.F):
            out.append(f"{PAPER_LABEL}: ΔΔ {row.metric}: not enough layers per category to test.")
            continue
        if row.p < ALPHA:
            differ = [f"{p.a}–{p.b} ({fmt_p(p.p)})" for p in pairs.itertuples() if p.p < ALPHA]
            other = [f"{p.a}–{p.b} ({fmt_p(p.p)})" for p in pairs.itertuples() if p.p >= ALPHA]
            text = (
                f"{PAPER_LABEL}: ΔΔ {row.metric} differs between categories (ANOVA F = "
                f"{row.F:.2f}, {fmt_p(row.p)}); pairs that differ: {', '.join(differ) or 'none'}"
            )
            if other:
                text += f"; no evidence of a difference for {', '.join(other)}"
            out.append(text + ".")
        else:
            out.append(
                f"{PAPER_LABEL}: no evidence that ΔΔ {row.metric} differs between categories "
                f"(ANOVA F = {row.F:.2f}, {fmt_p(row.p)})."
            )
    out.append(PAPER_CAVEAT)
    return out


def primary_sentence(tables: dict[str, pd.DataFrame]) -> str:
    """Data diversity against dropout and against weight decay on the main metrics' layer
    means (the primary family of category tests, Holm)."""
    tests = tables.get("category_tests", pd.DataFrame())
    if tests.empty or "family" not in tests.columns:
        return (
            "Too few categories to answer whether data diversity acts like dropout or weight decay."
        )
    primary = tests[tests["family"].astype(str).str.startswith("primary")]
    if primary.empty:
        return (
            "The primary question (data diversity vs dropout and vs weight decay) cannot be "
            "asked: the comparison lacks div, dp or wd conditions."
        )
    parts = []
    for ref in (Category.DP.value, Category.WD.value):
        rows = primary[primary["b"] == ref]
        if rows.empty:
            continue
        hits = [r for r in rows.itertuples() if _significant(r)]
        if hits:
            described = [
                f"{r.metric} (Hedges' g = {r.g:.2f}, 95% CI [{r.g_ci_low:.2f}, "
                f"{r.g_ci_high:.2f}], Holm {fmt_p(r.p_adj)})"
                for r in hits
            ]
            parts.append(f"differs from {name_of(ref)} on {', '.join(described)}")
        else:
            best = rows["p_adj"].min()
            parts.append(
                f"shows no evidence of differing from {name_of(ref)} on the {len(rows)} main "
                f"metrics (smallest Holm-adjusted {fmt_p(best)})"
            )
    n = int(primary["n_family"].iloc[0])
    n_a, n_b = int(primary["n_a"].max()), int(primary["n_b"].max())
    return (
        f"Default protocol, conditions as samples ({n_a} data-diversity conditions, up to "
        f"{n_b} per regularizer; {n} primary tests, Holm): data diversity "
        + "; it ".join(parts)
        + "."
    )


def _category_test_sentence(row, label: str | None = None) -> str:
    """``label``: what was compared (default ``ΔΔ <metric>``)."""
    label = label or f"ΔΔ {row.metric}"
    size = ""
    if math.isfinite(row.g):
        ci = (
            f" (95% CI [{row.g_ci_low:.2f}, {row.g_ci_high:.2f}])"
            if math.isfinite(row.g_ci_low)
            else " (too few conditions for an interval)"
        )
        size = f", Hedges' g = {row.g:.2f}{ci}"
    diff_ci = (
        f" (95% CI [{row.diff_ci_low:.3g}, {row.diff_ci_high:.3g}])"
        if math.isfinite(row.diff_ci_low)
        else ""
    )
    a, b = name_of(row.a), name_of(row.b)
    lead = (
        f"{a.capitalize()} and {b} differ on {label}"
        if _significant(row)
        else f"No evidence that {a} and {b} differ on {label}"
    )
    return (
        f"{lead}: mean difference {row.diff:.3g}{diff_ci}{size}; {fmt_p(row.p)} (larger of "
        f"Welch permutation and Welch t) over {row.n_a}+{row.n_b} conditions, "
        f"{fmt_p_adj(row)}."
    )


def default_conclusions(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Sentences for the default protocol: the headline answer first, then layer-aware
    tests with adjusted p-values and family sizes, fingerprints, dose–response and outcome
    relations. A test that does not reject is reported as "no evidence", never as sameness."""
    out: list[str] = [axis_sentence(tables), *rotation_headline(tables), primary_sentence(tables)]
    fingerprint = tables.get("fingerprint", pd.DataFrame())
    out.extend(fingerprint_summary(fingerprint))
    omnibus = tables.get("omnibus", pd.DataFrame())
    if len(omnibus):
        separating = [
            f"{r.metric} (Welch F = {r.F:.2f}, BH-adjusted {fmt_p(r.p_adj)})"
            for r in omnibus.itertuples()
            if _significant(r)
        ]
        out.append(
            "With conditions as the samples (permutation tests), the categories differ on "
            + (", ".join(separating) if separating else "no metric (no evidence of a difference)")
            + f" — BH over {len(omnibus)} metrics."
        )
    floor = tables.get("noise_floor", pd.DataFrame())
    if len(floor) and floor["floor"].isna().all():
        out.append(
            "One seed per condition: the baseline's own noise is unknown, so category means "
            "have no interval and fingerprints are not tested; category differences are "
            "still tested (the shared baseline cancels in them). Run at least two seeds."
        )
    tests = tables.get("category_tests", pd.DataFrame())
    out.extend(_category_test_sentence(row) for row in tests.itertuples())
    out.extend(fingerprint_sentences(tables))
    out.extend(rotation_sentences(tables))
    for name, label in (
        ("dose_response", "dose–response"),
        ("spectral_vs_accuracy", "spectral vs outcome"),
    ):
        table = tables.get(name, pd.DataFrame())
        if table.empty:
            continue
        supported = [r for r in table.itertuples() if _supported(r)]
        out.append(
            f"{label.capitalize()}: {len(supported)} of {len(table)} rank correlations with "
            "BH-adjusted p < 0.05 and an interval excluding 0."
        )
        for row in supported:
            out.append(_relation_sentence(name, row))
    return out


def fingerprint_sentences(tables: dict[str, pd.DataFrame]) -> list[str]:
    """One sentence per condition: its verdict, axis position and adjusted p-values."""
    fingerprint = tables.get("fingerprint", pd.DataFrame())
    out = []
    for row in (
        fingerprint[fingerprint["level"] == "condition"].itertuples() if len(fingerprint) else []
    ):
        where = interval_text(row.ci_low, row.ci_high, str(row.ci_reason))
        theta = f"θ = {row.theta:.2f}, {where}" if math.isfinite(row.theta) else "θ n/a"
        out.append(f"{row.name}: {row.verdict} ({theta}; moved: adjusted {fmt_p(row.p_moved_adj)}; "
                   f"axis: adjusted {fmt_p(row.p_axis_adj)}; {row.family}).")  # fmt: skip
    return out


def _relation_sentence(name: str, row) -> str:
    if name == "dose_response":
        trend = "rises" if row.rho > 0 else "falls"
        axis = "magnitude level" if getattr(row, "dose", "") == "augment_level" else "strength"
        return (
            f"{row.metric} {trend} with {name_of(row.category)} {axis} ({row.dataset}: "
            f"Spearman ρ = {row.rho:.2f}, {fmt_p(row.p)}, {fmt_p_adj(row)}, {_ci(row)}, "
            f"n = {row.n})."
        )
    stratum = f", {name_of(row.category)}" if hasattr(row, "category") else ""
    return (
        f"Across conditions ({row.dataset}{stratum}), ΔΔ {row.metric} is rank-correlated with "
        f"the change in {row.outcome} (ρ = {row.rho:.2f}, {fmt_p(row.p)}, {fmt_p_adj(row)}, "
        f"{_ci(row)}, n = {row.n})."
    )


ROTATION_WHAT = {
    "overlap": "the overlap of the top singular subspaces before and after training",
    "rel_change": "the relative size of the update ‖ΔW‖/‖W‖",
}


def rotation_sentences(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Rotate or rescale: each category's subspace overlap and update size beside the
    baseline's (descriptive), then the category tests of :mod:`weightspace.compare.rotation`."""
    summary = tables.get("rotation", pd.DataFrame())
    if summary.empty:
        return []
    out = []
    wide = summary.set_index(["category", "metric"])
    for category in dict.fromkeys(summary["category"]):
        if category == BASELINE or (category, "overlap") not in wide.index:
            continue
        ov, rc = wide.loc[(category, "overlap")], wide.loc[(category, "rel_change")]
        ci = f" (95% CI [{ov.ci_low:.3f}, {ov.ci_high:.3f}])" if math.isfinite(ov.ci_low) else ""
        out.append(
            f"Rotate or rescale — {name_of(category)}: top-k subspace overlap {ov['mean']:.3f}"
            f"{ci} against the baseline's {ov.baseline_mean:.3f}; relative update size "
            f"{rc['mean']:.3f} against {rc.baseline_mean:.3f} (means over layers and "
            f"{int(ov.n_conditions)} conditions; descriptive)."
        )
    tests = tables.get("rotation_tests", pd.DataFrame())
    for row in tests.itertuples():
        out.append(_category_test_sentence(row, ROTATION_WHAT.get(row.metric, row.metric)))
    return out


def rotation_headline(tables: dict[str, pd.DataFrame]) -> list[str]:
    """One sentence: does each category rotate the weights' top singular subspaces or only
    rescale them — its overlap beside the baseline's, and data diversity's tests against
    dropout and weight decay on the overlap, with their power."""
    summary = tables.get("rotation", pd.DataFrame())
    if summary.empty:
        return []
    wide = summary.set_index(["category", "metric"])
    parts = []
    base = None
    for cat in ("div", "dp", "wd"):
        if (cat, "overlap") not in wide.index:
            continue
        row = wide.loc[(cat, "overlap")]
        base = float(row.baseline_mean)
        ci = f" [{row.ci_low:.3f}, {row.ci_high:.3f}]" if math.isfinite(row.ci_low) else ""
        parts.append(f"{name_of(cat)} {row['mean']:.3f}{ci}")
    if not parts:
        return []
    tests = tables.get("rotation_tests", pd.DataFrame())
    power = tables.get("power")
    found = []
    if len(tests):
        for row in tests[(tests["metric"] == "overlap") & (tests["a"] == "div")].itertuples():
            differ = _significant(row)
            what = "data diversity differs" if differ else "no evidence that data diversity differs"
            pw = pct(power_of(power, f"rotation: div vs {row.b} on overlap"))
            found.append(f"{what} from {name_of(row.b)} (BH {fmt_p(row.p_adj)}, power {pw})")
    tail = f"; on the overlap, {'; '.join(found)}" if found else ""
    return [
        f"Rotate or rescale: top-k subspace overlap before → after training (1 = the dominant "
        f"directions stayed) — {', '.join(parts)}, baseline {base:.3f}{tail}."
    ]


SCORE_NAMES = {"vs_emb": "the embedding Vendi score", "wvs": "the weighted Vendi score (VS × ρ)"}


def prediction_sentence(correlations: pd.DataFrame | None) -> str:
    """Does the diversity score predict the accuracy gain? The pre-specified Holm family of
    the diversity prediction check (:data:`weightspace.compare.prediction.HEADLINE_SCORES`
    against the accuracy gain over the augmentations), with intervals and power."""
    if correlations is None or correlations.empty or "family" not in correlations.columns:
        return "The diversity prediction check was not run (weightspace diversity --study DIR)."
    rows = correlations[correlations["family"].astype(str).str.startswith("prediction")]
    if rows.empty or rows["spearman"].isna().all():
        return ("Too few augmentation conditions to ask whether the diversity score predicts "
                "the accuracy gain.")  # fmt: skip
    parts = []
    for row in rows.itertuples():
        what = SCORE_NAMES.get(str(row.score), str(row.score))
        ci = (f", 95% CI {row.spearman_lo:.2f} to {row.spearman_hi:.2f}"
              if finite(row.spearman_lo) else "")  # fmt: skip
        verdict = "predicts" if _significant(row) else "shows no evidence that it predicts"
        parts.append(f"{what} {verdict} the accuracy gain (Spearman ρ = {row.spearman:.2f}{ci}; "
                     f"Holm {fmt_p(row.p_adj)}, power {pct(getattr(row, 'power', math.nan))})")  # fmt: skip
    n = int(rows["n"].max())
    return f"Across the {n} augmentation conditions (the baseline included): {'; '.join(parts)}."
