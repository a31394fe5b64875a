"""The first answer (:func:`weightspace.compare.answer.axis_sentence`): the references the
table holds, where no change at all would sit, the shape clause, and a study of one seed."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from weightspace.compare import compare
from weightspace.compare.answer import _moved, axis_sentence
from weightspace.compare.shape import UNCALIBRATED
from weightspace.compare.simulate import PlantedStudy, planted_tables
from weightspace.errors import ConfigError

CONDITIONS = {"dp0.1": 0.1, "dp0.5": 0.2, "wd0.001": 0.1, "wd0.01": 0.2, "divA": 0.15,
              "divB": 0.1}  # fmt: skip


def _tables(seeds: tuple[int, ...], **kwargs):
    spec = PlantedStudy(conditions=CONDITIONS, signature_of={"divA": "dp", "divB": "dp"},
                        seeds=seeds, n_layers=6)  # fmt: skip
    layers, runs, _ = planted_tables(spec, rng=np.random.default_rng(3))
    return compare(layers, runs=runs, n_perm=50, n_boot=50, n_sims=0, **kwargs).tables


def test_the_answer_gives_the_zero_profile_and_the_shape():
    tables = _tables((0, 1, 2))
    text = axis_sentence(tables)
    div = tables["fingerprint"].set_index("name").loc["div"]
    shape = tables["axis_shape"].set_index("name").loc["div"]
    assert text.startswith(f"Data diversity sits at θ = {div.theta:.2f}")
    assert "on the dropout (0) → weight decay (1) axis" in text
    assert f"no change at all would sit at θ₀ = {div.theta_zero:.2f} [" in text
    assert (f"cosine {shape.cos_ref_a:.2f} with dropout's profile, {shape.cos_ref_b:.2f} "
            f"with weight decay's (difference {shape['diff']:.2f}, ") in text  # fmt: skip
    # the interval is withheld (not calibrated): the sentence says so once, cleanly
    assert f"difference {shape['diff']:.2f}, no interval: {UNCALIBRATED})" in text
    if shape.p_adj < 0.05:  # planted with dropout's signature
        assert "), closer to dropout's than to weight decay's (Holm" in text
    else:
        assert "; no evidence that its shape is closer to either (Holm" in text
    assert text.count("Holm") >= 4 and "nan" not in text and "similar" not in text


def test_the_answer_names_the_references_the_table_holds():
    """Reversed references: weight decay at 0, dropout at 1, in the table and the text."""
    tables = _tables((0, 1, 2), references=("wd", "dp"))
    fp = tables["fingerprint"]
    refs = fp[(fp["level"] == "category") & (fp["role"] == "reference")]["name"].tolist()
    assert refs == ["wd", "dp"]
    assert "on the weight decay (0) → dropout (1) axis" in axis_sentence(tables)
    div = tables["axis_shape"].set_index("name").loc["div"]
    assert (div.ref_a, div.ref_b) == ("wd", "dp")
    assert "with weight decay's profile, " in axis_sentence(tables)


def test_one_seed_reads_as_nothing_tested():
    tables = _tables((0,))
    text = axis_sentence(tables)
    div = tables["fingerprint"].set_index("name").loc["div"]
    assert text.startswith("The study has one seed per condition, so there is no noise "
                           "estimate and nothing can be tested.")  # fmt: skip
    assert f"θ = {div.theta:.2f} on the dropout (0) → weight decay (1) axis" in text
    assert f"no change at all would sit at θ₀ = {div.theta_zero:.2f}." in text
    assert not re.search(r"Holm|p = |power|nan|not tested \(", text), text


@pytest.mark.parametrize("refs", [("dp",), ("dp", "wd", "div"), ("dp", "dp")])
def test_the_fingerprint_needs_exactly_two_references(refs):
    layers, runs, _ = planted_tables(PlantedStudy(conditions=CONDITIONS, seeds=(0, 1)),
                                     rng=np.random.default_rng(0))  # fmt: skip
    with pytest.raises(ConfigError, match="exactly two different reference categories"):
        compare(layers, runs=runs, references=refs)


def test_the_moved_clauses_merge_only_when_they_agree() -> None:
    cats = pd.DataFrame({"p_moved_adj": [0.0001, 0.0002, 0.0003], "verdict": ["moved"] * 3},
                        index=["div", "dp", "wd"])  # fmt: skip
    power = pd.DataFrame({"verdict": [f"{c}: moved the spectra" for c in cats.index],
                          "power": [1.0, 1.0, 1.0]})  # fmt: skip
    assert _moved(cats, ["div", "dp", "wd"], power) == (
        "data diversity, dropout and weight decay each moved the spectra "
        "(Holm p < 0.001, power 100% each)")  # fmt: skip
    cats.loc["dp", "p_moved_adj"] = 0.2
    text = _moved(cats, ["div", "dp", "wd"], power)
    assert "dropout did not detectably move the spectra (Holm p = 0.200, power 100%)" in text
    assert "each" not in text and text.count("Holm") == 3
