"""`weightspace compare` on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import typer
from typer.testing import CliRunner

RN18 = Path(__file__).resolve().parent / "data" / "paper-tables" / "rn18-cifar10-scratch"


def invoke(args: list[str]):
    from weightspace.cli import app

    command = typer.main.get_command(app)
    if not isinstance(
        command, typer.core.TyperGroup
    ):  # only `compare` registered: typer collapses it
        args = args[1:]
    return CliRunner().invoke(app, args)


def test_missing_path_exits_2_with_message(tmp_path):
    result = invoke(["compare", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_folder_without_tables_exits_2(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    result = invoke(["compare", str(tmp_path)])
    assert result.exit_code == 2
    assert "no layers.parquet" in result.output


def test_paper_protocol_prints_and_writes(tmp_path):
    out = tmp_path / "cmp"
    result = invoke(["compare", str(RN18), "--protocol", "paper", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "anova" in result.output and "6.942" in result.output  # log_norm F
    assert "family: none" in result.output  # the paper's p-values are not adjusted
    assert (out / "anova.csv").is_file() and (out / "ttests.csv").is_file()
    payload = json.loads((out / "compare.json").read_text())
    assert payload["protocol"] == "paper"
    f = {r["metric"]: r["F"] for r in payload["tables"]["anova"]}
    assert round(f["log_norm"], 4) == 6.9424


def test_bad_metric_exits_2():
    result = invoke(
        ["compare", str(RN18), "--protocol", "paper", "--metrics", "alpha", "--metrics", "nope"]
    )
    assert result.exit_code == 2
    assert "nope" in result.output and "available" in result.output


def test_json_file_output(tmp_path):
    out = tmp_path / "res.json"
    result = invoke(
        [
            "compare",
            str(RN18),
            "--protocol",
            "paper",
            "--metrics",
            "alpha",
            "--metrics",
            "log_norm",
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert {r["metric"] for r in payload["tables"]["anova"]} == {"alpha", "log_norm"}


def test_default_protocol_on_a_study_directory(tmp_path):
    import numpy as np

    from weightspace.compare.simulate import PlantedStudy, write_planted_study

    spec = PlantedStudy(
        conditions={"dp0.1": 0.1, "dp0.5": 0.2, "wd0.001": 0.1, "wd0.01": 0.2, "divA": 0.15},
        signature_of={"divA": "dp"},
        seeds=(0, 1),
    )
    write_planted_study(tmp_path / "study", spec, rng=np.random.default_rng(0))
    out = tmp_path / "out"
    result = invoke(
        ["compare", str(tmp_path / "study"), "--n-perm", "50", "--n-boot", "50", "--seed", "1",
         "--out", str(out)]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for title in ("noise_floor", "omnibus", "category_tests", "fingerprint", "Conclusions"):
        assert title in result.output
    # every test family with its size and the power it had, and every p-value table's family
    assert "families" in result.output and "mean_power" in result.output
    families = pd.read_csv(out / "families.csv").set_index("family")
    # the headline: whether div, dp and wd moved the spectra, div's position and its shape —
    # one family, listed once though its tests sit in two tables
    assert families.index.tolist().count("headline (Holm)") == 1
    assert families.loc["headline (Holm)", "n_tests"] == 5
    assert families.loc["headline (Holm)", "table"] == "fingerprint, axis_shape"
    assert 0 <= families.loc["headline (Holm)", "mean_power"] <= 1
    tests = pd.read_csv(out / "category_tests.csv")
    for family, rows in tests.groupby("family"):
        assert f"family: {family} — {int(rows['n_family'].max())} tests" in result.output
    omnibus = pd.read_csv(out / "omnibus.csv")
    assert f"family: {omnibus['family'].iloc[0]} — {len(omnibus)} tests" in result.output
    assert "family: fingerprint: conditions (BH) — 1 tests" in result.output
    assert ("family: headline (Holm) — 5 tests; adjusted p-values in p_moved_adj, p_axis_adj"
            in result.output)  # fmt: skip
    assert "family: headline (Holm) — 5 tests; adjusted p-values in p_adj" in result.output
    assert "axis_shape" in result.output
    assert "15 p-values not adjusted for multiplicity (layers as samples" in result.output
    fingerprint = pd.read_csv(out / "fingerprint.csv").set_index("name")
    assert fingerprint.loc["divA", "theta"] < 0.5  # planted with dropout's signature
    assert {"theta", "ci_low", "p_moved_adj", "p_axis_adj", "verdict"} <= set(fingerprint.columns)
    assert json.loads((out / "compare.json").read_text())["settings"]["seed"] == 1


def test_category_rules_from_the_command_line(tmp_path):
    out = tmp_path / "res.json"
    result = invoke(["compare", str(RN18), "--protocol", "paper", "--metrics", "alpha",
                     "--category", "divNoize=noise", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    anova = json.loads(out.read_text())["tables"]["anova"]
    assert anova[0]["categories"] == "div,dp,noise,wd"
    bad = invoke(["compare", str(RN18), "--category", "oops"])
    assert bad.exit_code == 2 and "PREFIX=CATEGORY" in bad.output


def test_save_stores_the_comparison_where_the_report_reads_it(tmp_path):
    import numpy as np

    from weightspace.compare import CompareResult
    from weightspace.compare.simulate import PlantedStudy, write_planted_study

    spec = PlantedStudy(conditions={"dp0.1": 0.1, "wd0.01": 0.2, "divA": 0.15}, seeds=(0, 1))
    study = tmp_path / "study"
    write_planted_study(study, spec, rng=np.random.default_rng(0))
    result = invoke(["compare", str(study), "--protocol", "paper", "--save"])
    assert result.exit_code == 0, result.output
    assert f"stored {study / 'compare' / 'paper'}" in result.output
    stored = CompareResult.from_dir(study / "compare" / "paper")
    assert stored.protocol == "paper" and "anova" in stored.tables
    dd = pd.read_parquet(study / "dd.parquet")  # no default comparison: the paper's ΔΔ
    pd.testing.assert_frame_equal(dd, stored.tables["delta_delta"], check_dtype=False)
    result = invoke(["compare", str(study), "--save", "--n-perm", "20", "--n-boot", "20",
                     "--n-sims", "0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    default = CompareResult.from_dir(study / "compare" / "default")
    pd.testing.assert_frame_equal(pd.read_parquet(study / "dd.parquet"),
                                  default.tables["delta_delta"], check_dtype=False)  # fmt: skip
    two = invoke(["compare", str(study), str(study), "--save"])
    assert two.exit_code == 2 and "give one path" in two.output
