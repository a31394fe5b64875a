"""The report's statistics sections: the default protocol's remaining results, and the paper
protocol in its own section.

Each table and each sentence appears once in a report: what the first screen or another
section already shows (the axis and rotation answers, the fingerprint, rotation, category
means, dose–response and dynamics tables) is left out here, and the paper protocol's tests
(ANOVA, t-tests, correlations, classifier layer), which the default comparison also carries,
are shown only in the paper protocol's section.
"""

from __future__ import annotations

from collections.abc import Callable

from weightspace.compare.conclude import (
    axis_sentence,
    fingerprint_sentences,
    fingerprint_summary,
    rotation_headline,
    rotation_sentences,
)
from weightspace.compare.result import CompareResult
from weightspace.report._inputs import ReportTables
from weightspace.report.html import Bullets, Paragraph, Section, TableBlock

DEFAULT_ORDER = ("category_tests", "omnibus", "mixed_model", "noise_floor",
                 "spectral_vs_accuracy", "condition_scores", "power", "families")  # fmt: skip
PAPER_ORDER = ("anova", "ttests", "correlations", "classifier", "category_means")
# Shown in another section, the paper protocol's, or too long for a page (the CSV files and
# compare.json hold them in full).
SHOWN_ELSEWHERE = {"axis_positions", "fingerprint", "fingerprint_by_dataset", "rotation",
                   "rotation_tests", "category_means", "dose_response", "trajectories",
                   "trajectory_tests"}  # fmt: skip
PAPER_TESTS = {"anova", "ttests", "correlations", "classifier"}
NOT_SHOWN = {"delta_delta", "layer_profiles", "classifier_conditions"}
TITLES = {
    "category_tests": "category pairs on the condition scores (whole conditions relabelled; "
    "p: larger of permutation and Welch t; p_adj within the family)",
    "omnibus": "do the categories differ at all? (permutation Welch F over conditions)",
    "power": "power of each main verdict at this study's own effect sizes (simulated studies "
    "of its design) and its false-claim rate without effects",
    "families": "every test family: size, rejections, mean power",
}


def _ordered(names: set[str], order: tuple[str, ...]) -> list[str]:
    return [n for n in order if n in names] + sorted(names - set(order))


def _shown_elsewhere(tables: dict) -> set[str]:
    """The default conclusions the first screen and the other sections already show."""
    fingerprint = tables.get("fingerprint")
    return {axis_sentence(tables), *rotation_headline(tables), *rotation_sentences(tables),
            *fingerprint_sentences(tables),
            *(fingerprint_summary(fingerprint) if fingerprint is not None else [])}  # fmt: skip


def _protocol_section(
    tables: ReportTables,
    protocol: str,
    sid: str,
    title: str,
    fill: Callable[[Section, CompareResult], None],
) -> Section | None:
    """A protocol's section: ``fill`` with its stored result, or the command that stores it."""
    if protocol not in tables.protocols:
        return None
    sec = Section(sid, title)
    result = tables.results.get(protocol)
    if result is None:
        sec.add(Paragraph(f"Not stored: `{tables.compare_command()}` writes the {protocol} "
                          "protocol's comparison, which this section shows.", note=True))  # fmt: skip
    else:
        fill(sec, result)
    return sec


def _add_tables(sec: Section, result: CompareResult, names: set[str], order: tuple[str, ...],
                title: Callable[[str], str], collapsed: bool) -> None:  # fmt: skip
    for name in _ordered(names, order):
        table = result.tables[name]
        if not table.empty:
            sec.add(TableBlock(table, title=title(name), collapsed=collapsed))


def _default(sec: Section, result: CompareResult) -> None:
    shown = _shown_elsewhere(result.tables)
    rest = [c for c in result.conclusions if c not in shown]
    if rest:
        sec.add(Bullets(tuple(rest), fold_after=8))
    names = set(result.tables) - SHOWN_ELSEWHERE - PAPER_TESTS - NOT_SHOWN
    _add_tables(sec, result, names, DEFAULT_ORDER, lambda n: TITLES.get(n, n), True)


def _paper(sec: Section, result: CompareResult) -> None:
    sec.add(Bullets(tuple(result.conclusions)))
    names = set(result.tables) - NOT_SHOWN
    _add_tables(sec, result, names, PAPER_ORDER, lambda n: f"paper protocol: {n}", False)


def statistics_section(tables: ReportTables) -> Section | None:
    """The default protocol: its remaining conclusions, tests, power and test families."""
    return _protocol_section(tables, "default", "statistics",
                             "Default protocol: conditions as samples, adjusted p-values",
                             _default)  # fmt: skip


def paper_section(tables: ReportTables) -> Section | None:
    """The paper protocol (the authors' analysis: layers as samples), on its own."""
    return _protocol_section(tables, "paper", "paper",
                             "Paper protocol: the authors' analysis (layers as samples)",
                             _paper)  # fmt: skip
