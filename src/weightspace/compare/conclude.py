"""Plain-language conclusions that state their uncertainty."""

from __future__ import annotations

import math

import pandas as pd

from weightspace.compare.categories import BASELINE

ALPHA = 0.05
NAMES = {"dp": "dropout", "wd": "weight decay", "div": "data diversity", "gen": "synthetic data"}


def fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _name(category: str) -> str:
    return NAMES.get(category, category)


def fmt_p_adj(row) -> str:
    """ "Holm-adjusted p = …, family of N tests" for a row carrying p_adj/n_family/family."""
    adj = getattr(row, "p_adj", float("nan"))
    n = getattr(row, "n_family", float("nan"))
    family = str(getattr(row, "family", "") or "")
    method = "Holm" if "Holm" in family else "BH"
    size = f"{int(n)} tests" if isinstance(n, int | float) and math.isfinite(n) else "n/a"
    return f"{method}-adjusted {fmt_p(adj)} ({family.split(' (')[0] or 'family'}: {size})"


def _significant(row, column: str = "p_adj") -> bool:
    value = getattr(row, column, float("nan"))
    return isinstance(value, int | float) and math.isfinite(value) and value < ALPHA


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


def _fingerprint_summary(fingerprint: pd.DataFrame, references: pd.DataFrame) -> list[str]:
    """One sentence per category of conditions: verdict counts with the family size."""
    out: list[str] = []
    if fingerprint.empty:
        return out
    n_family = int(fingerprint["n_family"].max()) if fingerprint["n_family"].notna().any() else 0
    for category, group in fingerprint.groupby("category"):
        counts = group["verdict"].astype(str).str.split(" \\(|:", regex=True).str[0]
        parts = [f"{n} {verdict}" for verdict, n in counts.value_counts().items()]
        tail = (
            f" (BH over the {n_family} conditions tested)"
            if n_family
            else " (one baseline seed: not tested)"
        )
        out.append(
            f"Fingerprint of the {len(group)} {_name(category)} conditions: "
            f"{'; '.join(parts)}{tail}."
        )
    if len(references):
        parts = [
            f"{r.n_correct} of {r.n_conditions} {_name(r.category)}"
            for r in references.itertuples()
        ]
        out.append(
            "Reference check (each reference condition left out of its own centroid): "
            f"nearest to its own category for {', '.join(parts)}."
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


def headline(tables: dict[str, pd.DataFrame]) -> str:
    """The default protocol's one-sentence answer to the paper's question — does data
    diversity act like dropout or like weight decay — from the primary family (Holm)."""
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
    for ref in ("dp", "wd"):
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
            parts.append(f"differs from {_name(ref)} on {', '.join(described)}")
        else:
            best = rows["p_adj"].min()
            parts.append(
                f"shows no evidence of differing from {_name(ref)} on the {len(rows)} main "
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
    a, b = _name(row.a), _name(row.b)
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
    out: list[str] = [headline(tables)]
    fingerprint = tables.get("fingerprint", pd.DataFrame())
    out.extend(
        _fingerprint_summary(fingerprint, tables.get("fingerprint_references", pd.DataFrame()))
    )
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
    for row in fingerprint.itertuples():
        if not row.nearest:
            continue
        test = (
            f"{fmt_p(row.p_value)}, BH-adjusted {fmt_p(row.p_adj)} of {int(row.n_family)}"
            if math.isfinite(row.p_value)
            else "untested"
        )
        out.append(f"{row.condition}: {row.verdict} (nearest {row.nearest}; {test}).")
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


def _relation_sentence(name: str, row) -> str:
    if name == "dose_response":
        trend = "rises" if row.rho > 0 else "falls"
        axis = "magnitude level" if getattr(row, "dose", "") == "augment_level" else "strength"
        return (
            f"{row.metric} {trend} with {_name(row.category)} {axis} ({row.dataset}: "
            f"Spearman ρ = {row.rho:.2f}, {fmt_p(row.p)}, {fmt_p_adj(row)}, {_ci(row)}, "
            f"n = {row.n})."
        )
    stratum = f", {_name(row.category)}" if hasattr(row, "category") else ""
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
            f"Rotate or rescale — {_name(category)}: top-k subspace overlap {ov['mean']:.3f}"
            f"{ci} against the baseline's {ov.baseline_mean:.3f}; relative update size "
            f"{rc['mean']:.3f} against {rc.baseline_mean:.3f} (means over layers and "
            f"{int(ov.n_conditions)} conditions; descriptive)."
        )
    tests = tables.get("rotation_tests", pd.DataFrame())
    for row in tests.itertuples():
        out.append(_category_test_sentence(row, ROTATION_WHAT.get(row.metric, row.metric)))
    return out
