"""Conclusions say how sure they are: family sizes, adjusted p-values, "no evidence", and a
report headline led by the default protocol's answer."""

from __future__ import annotations

import re

import numpy as np
import pytest

from weightspace.compare import compare
from weightspace.compare._synthetic import SyntheticStudy, synthetic_tables

BANNED = ("does not separate", "not distinguishable", "is like", "similar ", "use one seed")


@pytest.fixture(scope="module")
def results():
    spec = SyntheticStudy(
        conditions={"dp0.1": 0.1, "dp0.3": 0.15, "dp0.5": 0.2, "wd0.001": 0.1, "wd0.01": 0.15,
                    "wd0.1": 0.2, "divA": 0.15, "divB": 0.1, "divC": 0.0},
        signature_of={"divA": "dp", "divB": "dp", "divC": "dp"}, seeds=(0, 1, 2),
    )  # fmt: skip
    layers, runs, _ = synthetic_tables(spec, rng=np.random.default_rng(4))
    return {
        "default": compare(layers, runs=runs, n_perm=200, n_boot=100),
        "paper": compare(layers, runs=runs, protocol="paper"),
    }


def test_every_conclusion_avoids_unsupported_sameness(results):
    for result in results.values():
        for sentence in result.conclusions:
            assert not any(word in sentence for word in BANNED), sentence


def test_category_test_sentences_carry_family_size_and_adjusted_p(results):
    lines = [c for c in results["default"].conclusions if "on ΔΔ" in c]
    assert len(lines) == 15
    for line in lines:
        assert re.search(r"(Holm|BH)-adjusted p", line) and re.search(r": \d+ tests\)", line)
    primary = [line for line in lines if "primary" in line]
    assert len(primary) == 8 and all("8 tests" in line for line in primary)
    tests = results["default"].tables["category_tests"]
    assert set(tests["n_family"]) == {8, 7}


def test_headline_leads_with_the_default_protocols_answer(results):
    from weightspace.report.sections import _lead_conclusions

    lead = _lead_conclusions(results)
    assert lead[0] == results["default"].conclusions[0]
    assert lead[0].startswith("Default protocol") and "Holm" in lead[0]
    assert "weight decay" in lead[0] and "dropout" in lead[0]
    paper = [line for line in lead if "ANOVA" in line]
    assert paper and all(line.startswith("Paper protocol") for line in paper)
    assert lead[-1].startswith("Paper protocol caveat")  # not dropped by an "ANOVA" filter
