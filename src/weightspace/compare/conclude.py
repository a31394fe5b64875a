"""Plain-language conclusions that state their uncertainty."""

from __future__ import annotations

import math

import pandas as pd

ALPHA = 0.05
NAMES = {"dp": "dropout", "wd": "weight decay", "div": "data diversity", "gen": "synthetic data"}


def fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _name(category: str) -> str:
    return NAMES.get(category, category)


def _supported(row) -> bool:
    """A rank correlation worth a sentence: p < 0.05 and, where there is a CI, it excludes 0."""
    if not (math.isfinite(row.rho) and math.isfinite(row.p) and row.p < ALPHA):
        return False
    return not (math.isfinite(row.ci_low) and row.ci_low * row.ci_high <= 0)


def _ci(row) -> str:
    if math.isfinite(row.ci_low):
        return f"95% CI [{row.ci_low:.2f}, {row.ci_high:.2f}]"
    return "too few points for an interval"


def _fingerprint_summary(fingerprint: pd.DataFrame) -> list[str]:
    """One sentence per category of conditions: how many are nearest to each reference."""
    out: list[str] = []
    if fingerprint.empty:
        return out
    for category, group in fingerprint.groupby("category"):
        nearest = group["nearest"].value_counts()
        significant = group[group["p_value"] < ALPHA]["nearest"].value_counts()
        parts = [
            f"{n} nearest to {_name(ref)} ({significant.get(ref, 0)} with p < {ALPHA})"
            for ref, n in nearest.items()
            if ref
        ]
        out.append(
            f"Fingerprint of the {len(group)} {_name(category)} conditions: {'; '.join(parts)}."
        )
    return out


def paper_conclusions(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Sentences for the paper protocol: what separates which categories."""
    out = []
    anova, ttests = tables["anova"], tables["ttests"]
    for row in anova.itertuples():
        pairs = ttests[ttests["metric"] == row.metric]
        if not math.isfinite(row.F):
            out.append(f"ΔΔ {row.metric}: not enough layers per category to test.")
            continue
        if row.p < ALPHA:
            differ = [f"{p.a}–{p.b} ({fmt_p(p.p)})" for p in pairs.itertuples() if p.p < ALPHA]
            same = [f"{p.a}–{p.b} ({fmt_p(p.p)})" for p in pairs.itertuples() if p.p >= ALPHA]
            text = (
                f"ΔΔ {row.metric} differs between categories (ANOVA F = {row.F:.2f}, "
                f"{fmt_p(row.p)}); pairs that differ: {', '.join(differ) or 'none'}"
            )
            if same:
                text += f"; not distinguishable: {', '.join(same)}"
            out.append(text + ".")
        else:
            out.append(
                f"ΔΔ {row.metric} does not separate the categories (ANOVA F = {row.F:.2f}, "
                f"{fmt_p(row.p)})."
            )
    out.append(
        "These tests treat layers as independent samples and use one seed, so their p-values "
        "are optimistic; a non-significant pair is absence of evidence, not evidence of "
        "similarity. The default protocol addresses both."
    )
    return out


def default_conclusions(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Sentences for the default protocol: effects against the noise floor, layer-aware
    tests, fingerprints, dose–response and outcome relations."""
    out: list[str] = []
    fingerprint = tables.get("fingerprint", pd.DataFrame())
    out.extend(_fingerprint_summary(fingerprint))
    omnibus = tables.get("omnibus", pd.DataFrame())
    separating = [
        f"{r.metric} ({fmt_p(r.p_perm)})"
        for r in omnibus.itertuples()
        if math.isfinite(r.p_perm) and r.p_perm < ALPHA
    ]
    if len(omnibus):
        out.append(
            "With conditions as the samples (permutation tests), the categories differ on "
            + (", ".join(separating) if separating else "no metric")
            + f" (of {len(omnibus)} metrics)."
        )
    floor = tables.get("noise_floor", pd.DataFrame())
    if len(floor) and floor["floor"].isna().all():
        out.append(
            "One seed per condition: the seed-to-seed noise floor is unknown, so no effect can "
            "be told apart from seed noise; run at least two seeds of the baseline."
        )
    tests = tables.get("category_tests", pd.DataFrame())
    for row in tests.itertuples():
        noise = " — inside the seed-to-seed noise floor" if row.noise == "within" else ""
        verdict = "differ" if row.p_perm < ALPHA else "are not distinguishable"
        size = ""
        if math.isfinite(row.d):
            ci = (
                f" (95% CI [{row.d_ci_low:.2f}, {row.d_ci_high:.2f}])"
                if math.isfinite(row.d_ci_low)
                else " (too few conditions for an interval)"
            )
            size = f", Cohen's d = {row.d:.2f}{ci}"
        out.append(
            f"{_name(row.a).capitalize()} and {_name(row.b)} {verdict} on ΔΔ {row.metric}: mean difference "
            f"{row.diff:.3g}{size}, permutation {fmt_p(row.p_perm)} over {row.n_a}+{row.n_b} "
            f"conditions{noise}."
        )
    for row in fingerprint.itertuples():
        if not row.nearest:
            continue
        conf = f"confidence {row.confidence:.0%}, " if math.isfinite(row.confidence) else ""
        out.append(
            f"{row.condition}: {row.verdict} (nearest {row.nearest}, {conf}{fmt_p(row.p_value)})."
        )
    dose = tables.get("dose_response", pd.DataFrame())
    for row in dose.itertuples():
        if _supported(row):
            trend = "rises" if row.rho > 0 else "falls"
            out.append(
                f"{row.metric} {trend} with {_name(row.category)} strength ({row.dataset}: "
                f"Spearman ρ = {row.rho:.2f}, {fmt_p(row.p)}, {_ci(row)}, n = {row.n})."
            )
    rel = tables.get("spectral_vs_accuracy", pd.DataFrame())
    for row in rel.itertuples():
        if _supported(row):
            out.append(
                f"Across conditions ({row.dataset}), ΔΔ {row.metric} is rank-correlated with "
                f"the change in {row.outcome} (ρ = {row.rho:.2f}, {fmt_p(row.p)}, {_ci(row)}, "
                f"n = {row.n})."
            )
    if not out:
        out.append("Not enough conditions to draw any conclusion.")
    return out
