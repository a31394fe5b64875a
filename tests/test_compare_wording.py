"""Conclusions say how sure they are: family sizes, adjusted p-values, "no evidence", and a
report headline led by the default protocol's answer."""

from __future__ import annotations

import re

import numpy as np
import pytest

from weightspace.compare import compare
from weightspace.compare.simulate import PlantedStudy, write_planted_study

# Sameness claims no test in the default or paper protocol supports (a test that does not
# reject is "no evidence of a difference"), and the old advice to run one seed.
BANNED = re.compile(
    r"does not separate|do not separate|not distinguishable|indistinguishable|\bis like\b|"
    r"\bare like\b|\bsimilar\b|(inside|within) the [\w -]*(noise floor|band)|"
    r"within seed noise|use one seed",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A synthetic study on disk: planted dp-like, wd-like and no-effect conditions."""
    spec = PlantedStudy(
        conditions={"dp0.1": 0.1, "dp0.3": 0.15, "dp0.5": 0.2, "wd0.001": 0.1, "wd0.01": 0.15,
                    "wd0.1": 0.2, "divA": 0.15, "divB": 0.1, "divC": 0.0},
        signature_of={"divA": "dp", "divB": "dp", "divC": "dp"}, seeds=(0, 1, 2),
    )  # fmt: skip
    root = tmp_path_factory.mktemp("wording") / "study"
    write_planted_study(root, spec, rng=np.random.default_rng(4))
    return root


@pytest.fixture(scope="module")
def results(study):
    return {
        "default": compare(study, n_perm=200, n_boot=100),
        "paper": compare(study, protocol="paper"),
    }


def test_every_conclusion_avoids_unsupported_sameness(results):
    for result in results.values():
        for sentence in result.conclusions:
            assert not BANNED.search(sentence), sentence


def test_acts_like_only_where_both_adjusted_tests_reject(results):
    """ "acts like <reference>" is printed only for a condition that moved the spectra and
    whose axis test (θ = ½) rejects, both after adjustment; the others say which test did
    not reject."""
    table = results["default"].tables["fingerprint"]
    fingerprint = table[table["level"] == "condition"].set_index("name")
    claims = [c for c in results["default"].conclusions if re.search(r"^\w+[\w.]*: acts like ", c)]
    assert claims  # the planted dp-like conditions
    for sentence in claims:
        condition = sentence.split(":")[0]
        row = fingerprint.loc[condition]
        assert row["p_moved_adj"] < 0.05 and row["p_axis_adj"] < 0.05, sentence
    for condition, row in fingerprint.iterrows():
        verdict = str(row["verdict"])
        if verdict.startswith("acts like"):
            assert row["p_moved_adj"] < 0.05 and row["p_axis_adj"] < 0.05, condition
        if np.isfinite(row["p_moved_adj"]) and row["p_moved_adj"] >= 0.05:
            assert verdict.startswith("no evidence that it moved"), condition


def _visible_text(page: str) -> str:
    import html

    page = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r'src="data:[^"]*"', " ", page)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_report_and_cli_print_no_unsupported_sameness(study, results, tmp_path):
    """Every sentence, caption and label of the report and of `weightspace compare`."""
    from test_compare_cli import invoke
    from weightspace.compare.result import save_to_study
    from weightspace.report import build_report

    save_to_study(study, results)  # where the study command stores them; the report reads them
    out = tmp_path / "report.html"
    page = build_report(study, out=out, formats=("png",)).read_text()
    text = _visible_text(page)
    assert "Data diversity sits at" in text and "Paper protocol caveat" in text
    assert not BANNED.search(text), BANNED.search(text)
    for args in (["--protocol", "paper"], ["--n-perm", "50", "--n-boot", "50"]):
        result = invoke(["compare", str(study), *args])
        assert result.exit_code == 0, result.output
        assert "Conclusions" in result.output and not BANNED.search(result.output)


def test_category_test_sentences_carry_family_size_and_adjusted_p(results):
    lines = [c for c in results["default"].conclusions if "on ΔΔ" in c]
    assert len(lines) == 15
    for line in lines:
        assert re.search(r"(Holm|BH)-adjusted p", line) and re.search(r": \d+ tests\)", line)
    primary = [line for line in lines if "primary" in line]
    assert len(primary) == 8 and all("8 tests" in line for line in primary)
    tests = results["default"].tables["category_tests"]
    assert set(tests["n_family"]) == {8, 7}


def test_headline_leads_with_the_axis_answer(study, results, tmp_path):
    """The report's first answer is the default protocol's first conclusion, with its power;
    the paper protocol's verdicts are each labelled as such, with their caveat, in its own
    section."""
    import html

    from weightspace.compare.result import save_to_study
    from weightspace.report import build_report

    save_to_study(study, results)
    page = build_report(study, out=tmp_path / "r.html", formats=()).read_text()
    axis = html.unescape(re.search(r'<li id="answer-axis">(.*?)</li>', page).group(1))
    lead = results["default"].conclusions[0]
    assert axis.endswith(lead) and lead.startswith("Data diversity sits at θ") and "Holm" in lead
    assert "weight decay" in lead and "dropout" in lead and "power" in lead
    paper = html.unescape(page[page.index('<section id="paper"') :])
    lines = [line for line in results["paper"].conclusions if "ANOVA" in line]
    assert lines and all(line.startswith("Paper protocol") and line in paper for line in lines)
    assert results["paper"].conclusions[-1].startswith("Paper protocol caveat")
    assert results["paper"].conclusions[-1] in paper
