"""The report's text section: EDA outcomes, WVS vs accuracy, fingerprints, published BERT tables.

Shown only for a text study, which the study's own tables identify: text runs record the
fraction of truncated texts (``text_truncated_*`` in ``runs.parquet``) and the text check
writes n-gram Vendi scores (``vs_ngram`` in ``diversity.parquet``). Everything here reads
tables the generic pipeline already wrote — the comparison has no text-specific code.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from weightspace import store
from weightspace.compare import compare
from weightspace.compare.conclude import fmt_p
from weightspace.data.eda import EDA_OPS, is_eda_policy, parse_policy
from weightspace.report import figures_runs as fr
from weightspace.report import figures_spectral as fs
from weightspace.report._data import BASELINE
from weightspace.report._inputs import ReportInputs
from weightspace.report._style import empty_figure, new_figure
from weightspace.report.html import Bullets, FigureBlock, Paragraph, Section, TableBlock
from weightspace.report.sections import tables_of

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

# Where the paper's published bert-base tables are looked for unless a path is given.
BERT_TABLES_ENV = "WEIGHTSPACE_BERT_TABLES"
DEFAULT_BERT_TABLES = Path("../shared/reference/paper-tables/bert-complaints")
PAPER_METRICS = ("alpha", "log_norm", "log_spectral_norm")
FINGERPRINT_CATEGORIES = ("div", "gen", "dp", "wd")
_TRUNCATION = ("text_truncated_train", "text_truncated_test")

Writer = Callable[[str, "Figure", str], FigureBlock]


def is_text_study(inputs: ReportInputs) -> bool:
    """Whether the study's tables are those of text runs (not a guess from names)."""
    runs = inputs.runs
    if runs is not None and any(
        c in runs.columns and pd.to_numeric(runs[c], errors="coerce").notna().any()
        for c in _TRUNCATION
    ):
        return True
    div = inputs.diversity
    return bool(
        div is not None
        and "vs_ngram" in div.columns
        and pd.to_numeric(div["vs_ngram"], errors="coerce").notna().any()
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


def wvs_sentences(corr: pd.DataFrame | None, *, target: str = "acc_gain") -> list[str]:
    """One sentence per stratum on WVS's rank correlation with ``target`` and its interval."""
    if corr is None or corr.empty or "score" not in corr.columns:
        return ["No rank correlation table (run `weightspace diversity --study`)."]
    hit = corr[(corr["score"] == "wvs") & (corr.get("target", target) == target)]
    if hit.empty:
        return [f"The rank correlation table has no WVS row for {target}."]
    out = []
    for _, r in hit.iterrows():
        where = f"{r['stratum']} conditions" if "stratum" in r else "data conditions"
        head = f"WVS vs {target} across {int(r['n'])} {where}"
        if not np.isfinite(float(r["spearman"])):
            out.append(f"{head}: not computed (too few conditions; see docs/compare.md).")
            continue
        text = (f"{head}: Spearman {r['spearman']:.2f} (95% bootstrap interval "
                f"{r['spearman_lo']:.2f} to {r['spearman_hi']:.2f})")  # fmt: skip
        if "p" in r and np.isfinite(float(r["p"])):
            text += f", {fmt_p(float(r['p']))}"
            if "p_adj" in r and np.isfinite(float(r["p_adj"])):
                text += f" (adjusted {fmt_p(float(r['p_adj']))})"
        out.append(text + "; an interval that includes 0 does not establish the ranking.")
    return out


def bert_tables_dir(given: str | Path | None = None) -> Path:
    """The published tables' folder: ``given``, else ``$WEIGHTSPACE_BERT_TABLES``, else
    ``../shared/reference/paper-tables/bert-complaints`` (from the working directory)."""
    if given is not None:
        return Path(given)
    env = os.environ.get(BERT_TABLES_ENV)
    return Path(env) if env else DEFAULT_BERT_TABLES


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
            for other in ("dp", "wd"):
                hit = tt[(tt["metric"] == m) & (tt["a"] == "div") & (tt["b"] == other)]
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


def text_section(
    inputs: ReportInputs, write: Writer, *, bert_tables: str | Path | None = None
) -> Section | None:
    """The text section, or ``None`` when the study is not a text study."""
    if not is_text_study(inputs):
        return None
    sec = Section("text", "Text: EDA, diversity and the published BERT tables")
    runs = inputs.runs
    if runs is not None:
        table = eda_outcomes(runs)
        if (table["op"] != "none").any():
            sec.add(Paragraph("Test accuracy per EDA op and strength (mean over seeds; s.d. "
                              "across seeds where there are several; gain over the baseline)."))  # fmt: skip
            sec.add(write("text_eda", eda_outcome_figure(table), "Test accuracy vs EDA "
                          "strength per op; bars: ±1 s.d. across seeds; dashed: baseline."))  # fmt: skip
            sec.add(TableBlock(table, title="EDA outcomes"))
        trunc = [c for c in _TRUNCATION if c in runs.columns]
        if trunc:
            frac = pd.to_numeric(runs[trunc[-1]], errors="coerce").mean()
            sec.add(Paragraph(f"Mean fraction of test texts truncated at the run's max length: "
                              f"{frac:.3f}.", note=True))  # fmt: skip
    div = inputs.diversity
    if div is not None and "wvs" in div.columns:
        if "data_condition" in div.columns:
            div = div[div["data_condition"].astype(bool)]
        sec.add(write("text_wvs", fr.diversity_figure(div, scores=("wvs",)),
                      "Weighted Vendi score of each data condition's training texts vs its "
                      "test accuracy (baseline, EDA and gen)."))  # fmt: skip
        sec.add(Bullets(tuple(wvs_sentences(inputs.diversity_correlations))))
    else:
        sec.add(Paragraph("No diversity table: run `weightspace diversity --study` for the "
                          "WVS-vs-accuracy scatter.", note=True))  # fmt: skip
    fp = tables_of(inputs.results.get("default")).get("fingerprint")
    if fp is not None and not fp.empty and "category" in fp.columns:
        sub = fp[fp["category"].isin(FINGERPRINT_CATEGORIES)]
        if sub["category"].isin(("div", "gen")).any():
            sec.add(write("text_fingerprint", fs.fingerprint_figure(sub),
                          "Fingerprint of the EDA (div) and synthetic (gen) conditions beside "
                          "dropout and weight decay (same table as the fingerprint section)."))  # fmt: skip
            sec.add(TableBlock(sub, title="fingerprint: EDA and gen beside dp and wd"))
    for samples in sorted(store.StudyPaths(inputs.root).synthetic_dir.glob("s*/samples.csv")):
        sec.add(TableBlock(store.read_table(samples), collapsed=True,
                           title=f"built-in text generator samples, seed "
                           f"{samples.parent.name[1:]} (quality: synthetic section)"))  # fmt: skip
    _published(sec, inputs, bert_tables_dir(bert_tables))
    return sec


def _published(sec: Section, inputs: ReportInputs, folder: Path) -> None:
    if not folder.is_dir():
        sec.add(Paragraph(f"Published BERT tables not shown: {folder} is not a folder (set "
                          f"${BERT_TABLES_ENV} or pass bert_tables= to build_report).",
                          note=True))  # fmt: skip
        return
    try:
        published = compare(folder, protocol="paper").tables
    except Exception as err:  # a broken reference folder must not stop the report
        log.warning("paper protocol on %s failed", folder, exc_info=True)
        sec.add(Paragraph(f"Published BERT tables not shown: the paper protocol failed on "
                          f"{folder}: {type(err).__name__}: {err}", note=True))  # fmt: skip
        return
    ours = tables_of(inputs.results.get("paper"))
    sec.add(Paragraph("The paper's protocol (ΔΔ per layer, layers as samples; over-confident, "
                      "see docs/compare.md) on the published bert-base tables "
                      f"({folder}) and on this study."))  # fmt: skip
    sec.add(TableBlock(published_beside_ours(published, ours), title="paper protocol statistics"))
