"""The report's text section: EDA outcomes, the generator's samples, published BERT tables.

Shown only for a text study: one whose ``runs.parquet`` says so in its ``modality`` column.
Everything here reads tables the generic pipeline already wrote — the comparison has no
text-specific code; the published tables' paper protocol is the comparison the study stored
in ``compare/published/`` (:func:`weightspace.compare.load.published_bert_dir`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from weightspace import store
from weightspace.compare.conclude import fmt_p
from weightspace.compare.load import BERT_TABLES_ENV
from weightspace.data.eda import EDA_OPS, is_eda_policy, parse_policy
from weightspace.report._inputs import ReportTables
from weightspace.report._style import empty_figure, new_figure
from weightspace.report.html import Paragraph, Plot, Section, TableBlock
from weightspace.vocabulary import BASELINE, Category

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: the value of ``runs.parquet``'s ``modality`` column for text runs (the text modality's name)
TEXT_MODALITY = "text"
PAPER_METRICS = ("alpha", "log_norm", "log_spectral_norm")
_TRUNCATION = ("text_truncated_train", "text_truncated_test")


def is_text_study(tables: ReportTables) -> bool:
    """Whether the study's runs are text runs, as ``runs.parquet``'s ``modality`` says."""
    runs = tables.runs
    return bool(
        runs is not None
        and "modality" in runs.columns
        and (runs["modality"].astype(str) == TEXT_MODALITY).any()
    )


def eda_outcomes(runs: pd.DataFrame, *, metric: str = "test_acc") -> pd.DataFrame:
    """One row per EDA condition (and the baseline): op(s), strength, mean, s.d., gain.

    ``op`` is the EDA op (``sr+rd`` for a combination, whose ``strength`` is NaN: each op
    keeps its own α, see the ``augment`` column); ``*_std`` is the sample s.d. across seeds
    (NaN with one seed).
    """
    cols = ["condition", "op", "strength", "augment", "n_seeds", metric, f"{metric}_std", "gain"]
    if metric not in runs.columns or "augment" not in runs.columns:
        return pd.DataFrame(columns=cols)
    runs = runs[store.usable(runs)] if "status" in runs.columns else runs
    base = pd.to_numeric(runs.loc[runs["condition"] == BASELINE, metric], errors="coerce")
    base_mean = float(base.mean()) if base.notna().any() else math.nan
    rows = []
    for condition, sub in runs.groupby("condition", sort=False):
        policy = sub["augment"].iloc[0]
        if condition != BASELINE and not is_eda_policy(policy):
            continue
        ops = parse_policy(policy) if condition != BASELINE else ()
        values = pd.to_numeric(sub[metric], errors="coerce").dropna()
        rows.append(
            {
                "condition": condition,
                "op": "+".join(op for op, _ in ops) if ops else "none",
                "strength": ops[0][1] if len(ops) == 1 else (0.0 if not ops else math.nan),
                "augment": str(policy) if ops else "none",
                "n_seeds": len(values),
                metric: float(values.mean()) if len(values) else math.nan,
                f"{metric}_std": float(values.std(ddof=1)) if len(values) > 1 else math.nan,
                "gain": float(values.mean()) - base_mean if len(values) else math.nan,
            }
        )
    table = pd.DataFrame(rows, columns=cols)
    order = {op: i for i, op in enumerate(("none", *EDA_OPS))}
    key = table["op"].map(lambda op: order.get(op, len(order)))
    return (
        table.assign(_k=key).sort_values(["_k", "op", "strength"]).drop(columns="_k")
    ).reset_index(drop=True)


def eda_outcome_figure(table: pd.DataFrame, *, metric: str = "test_acc") -> Figure:
    """Outcome vs EDA strength, one line per op (error bars: ±1 s.d. across seeds);
    dashed: the baseline. Combinations (no single strength) are left to the table."""
    single = table[(table["op"] != "none") & table["strength"].notna()]
    if single.empty or metric not in table.columns:
        return empty_figure("no single-op EDA condition with an outcome")
    fig, axes = new_figure(1, 1, panel_size=(5.0, 3.4))
    ax = axes[0, 0]
    for i, (op, sub) in enumerate(single.groupby("op", sort=False)):
        sub = sub.sort_values("strength")
        std = sub[f"{metric}_std"].to_numpy(dtype=float)
        ax.errorbar(
            sub["strength"],
            sub[metric],
            yerr=np.where(np.isfinite(std), std, 0.0),
            capsize=3,
            color=f"C{i}",  # one colour per op (all are category div)
            marker="osD^v"[i % 5],
            label=op,
        )
    base = table.loc[table["op"] == "none", metric]
    if len(base) and np.isfinite(base.iloc[0]):
        ax.axhline(float(base.iloc[0]), color="#7f7f7f", linestyle="--", label="baseline")
    ax.set_xlabel("EDA strength α")
    ax.set_ylabel(metric)
    ax.legend(fontsize="small")
    return fig


def _paper_stats(tables: dict[str, pd.DataFrame]) -> dict[str, dict[str, str]]:
    """``{column: 'stat (p)'}`` per metric: the ANOVA and the div–dp, div–wd t-tests."""
    out: dict[str, dict[str, str]] = {m: {} for m in PAPER_METRICS}
    anova, tt = tables.get("anova"), tables.get("ttests")
    for m in PAPER_METRICS:
        if anova is not None and not anova.empty:
            hit = anova[anova["metric"] == m]
            if len(hit):
                out[m]["ANOVA F (p)"] = f"{hit['F'].iloc[0]:.3g} ({fmt_p(hit['p'].iloc[0])})"
        if tt is not None and not tt.empty:
            for other in (Category.DP.value, Category.WD.value):
                hit = tt[(tt["metric"] == m) & (tt["a"] == Category.DIV.value) & (tt["b"] == other)]
                if len(hit):
                    out[m][f"div–{other} t (p)"] = (
                        f"{hit['t'].iloc[0]:.3g} ({fmt_p(hit['p'].iloc[0])})"
                    )
    return out


def published_beside_ours(
    published: dict[str, pd.DataFrame], ours: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    """The paper protocol's statistics, per ΔΔ metric, on the published tables and on ours."""
    pub, own = _paper_stats(published), _paper_stats(ours)
    rows = []
    for m in PAPER_METRICS:
        row: dict[str, Any] = {"metric": m}
        row.update({f"published: {k}": v for k, v in pub[m].items()})
        row.update({f"ours: {k}": v for k, v in own[m].items()})
        rows.append(row)
    return pd.DataFrame(rows).fillna("—")


def _eda_blocks(runs: pd.DataFrame) -> list[Paragraph | Plot | TableBlock]:
    table = eda_outcomes(runs)
    blocks: list[Paragraph | Plot | TableBlock] = []
    if (table["op"] != "none").any():
        blocks.append(Paragraph("Test accuracy per EDA op and strength (mean over seeds; s.d. "
                                "across seeds where there are several; gain over the "
                                "baseline)."))  # fmt: skip
        blocks.append(Plot("text_eda", eda_outcome_figure(table), "Test accuracy vs EDA "
                           "strength per op; bars: ±1 s.d. across seeds; dashed: baseline."))  # fmt: skip
        blocks.append(TableBlock(table, title="EDA outcomes"))
    trunc = [c for c in _TRUNCATION if c in runs.columns]
    if trunc:
        frac = pd.to_numeric(runs[trunc[-1]], errors="coerce").mean()
        blocks.append(Paragraph(f"Mean fraction of test texts truncated at the run's max "
                                f"length: {frac:.3f}.", note=True))  # fmt: skip
    return blocks


def text_section(tables: ReportTables) -> Section | None:
    """The text section, or ``None`` when the study is not a text study. The weighted Vendi
    score against accuracy is the diversity section's, its rank correlation the headline's."""
    if not is_text_study(tables):
        return None
    sec = Section("text", "Text: EDA, generated texts and the published BERT tables")
    if tables.runs is not None:
        for block in _eda_blocks(tables.runs):
            sec.add(block)
    for seed, folder in tables.paths.synthetic_seed_dirs():
        samples = folder / store.TEXT_SAMPLES_TABLE
        if samples.is_file():
            sec.add(TableBlock(store.read_table(samples), collapsed=True,
                               title=f"built-in text generator samples, seed {seed} "
                               "(quality: synthetic section)"))  # fmt: skip
    _published(sec, tables)
    return sec


def _published(sec: Section, tables: ReportTables) -> None:
    folder = tables.paths.published_compare_dir
    if tables.published is None:
        sec.add(Paragraph(f"Published BERT tables not shown: no comparison of them is stored "
                          f"in {folder}; `weightspace compare ${BERT_TABLES_ENV} --protocol "
                          f"paper --out {folder}` writes it (a text study does when "
                          f"${BERT_TABLES_ENV} or the default folder holds them).",
                          note=True))  # fmt: skip
        return
    datasets = tables.published.settings.get("datasets")
    named = ", ".join(map(str, datasets)) if isinstance(datasets, list) else "?"
    sec.add(Paragraph("The paper's protocol (ΔΔ per layer, layers as samples; over-confident, "
                      f"see docs/compare.md) on the published bert-base tables ({named}) and "
                      "on this study."))  # fmt: skip
    ours = tables.tables_of("paper")
    sec.add(TableBlock(published_beside_ours(tables.published.tables, ours),
                       title="paper protocol statistics"))  # fmt: skip
