"""build_report and the `weightspace report` CLI on a fixture study and on published tables."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from report_fixtures import make_study
from weightspace.errors import ConfigError, DataError
from weightspace.report import build_report

RN18 = Path(__file__).resolve().parent / "data" / "paper-tables" / "rn18-cifar10-scratch"


@dataclass
class _Result:  # the CompareResult contract: tables, conclusions, protocol
    tables: dict[str, pd.DataFrame]
    conclusions: list[str]
    protocol: str = "default"
    settings: dict = field(default_factory=dict)


FAKE = {
    "default": _Result(
        tables={
            "noise_floor": pd.DataFrame({"dataset": "all", "metric": ["alpha"], "floor": [0.3]}),
            "fingerprint": pd.DataFrame(
                {
                    "condition": ["divAuto", "divNoize30"],
                    "category": "div",
                    "nearest": "dp",
                    "distance_dp": [0.2, 0.3],
                    "distance_wd": [0.9, 0.8],
                    "confidence": [0.97, 0.81],
                }
            ),
            "custom_table": pd.DataFrame({"x": [1.23456789], "label": ["<b>escaped</b>"]}),
        },
        conclusions=["divAuto acts like dropout (confidence 0.97, 95% CI …)."],
    ),
    "paper": _Result(
        tables={"anova": pd.DataFrame({"metric": ["log_norm"], "F": [6.9424], "p": [0.0019]})},
        conclusions=["log_norm separates wd from div and dp (F = 6.94, p = 0.002)."],
        protocol="paper",
    ),
}


def _images(page: str) -> list[str]:
    return re.findall(r'<img [^>]*src="(data:image/png;base64,[A-Za-z0-9+/=]+)"', page)


def _assert_offline(page: str) -> None:
    assert "http:" not in page and "https:" not in page
    assert 'src="//' not in page and 'href="//' not in page and "url(" not in page
    assert "<script" not in page and "<link" not in page
    srcs = re.findall(r'src="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = make_study(tmp_path_factory.mktemp("study"), seeds=(0,))
    div = pd.read_parquet(root / "diversity.parquet")
    div["data_condition"] = div["category"].isin(["bs", "div", "gen"])
    div.to_parquet(root / "diversity.parquet")
    corr = pd.DataFrame({"score": ["vs_emb", "wvs"], "target": "acc_gain", "n": 6,
                         "spearman": [0.9, 0.8], "spearman_lo": [0.5, -0.1],
                         "spearman_hi": [1.0, 0.99]})  # fmt: skip
    corr.to_parquet(root / "diversity_correlations.parquet")
    path = build_report(
        root, compare_result=FAKE, formats=("png", "svg"), esd_layers=["conv1", "fc"]
    )
    return path, path.read_text()


def test_report_is_self_contained_with_every_section(built: tuple[Path, str]) -> None:
    path, page = built
    assert path.name == "report.html"
    _assert_offline(page)
    sections = re.findall(r'<section id="([^"]+)"', page)
    assert sections == [
        "headline",
        "outcomes",
        "statistics",
        "fingerprint",
        "category-means",
        "layer-profiles",
        "esd",
        "dose-response",
        "diversity",
        "synthetic",
    ]
    # outcomes, fingerprint, category means, layer profiles, ESD, dose-response,
    # diversity, synthetic (outcome vs fraction) and synthetic WVS vs accuracy.
    assert len(_images(page)) == 9
    assert plt.get_fignums() == []


def test_report_shows_conclusions_and_tables(built: tuple[Path, str]) -> None:
    _, page = built
    assert "divAuto acts like dropout" in page and "log_norm separates wd" in page
    assert "paper: anova" in page and "6.9424" in page
    assert "&lt;b&gt;escaped&lt;/b&gt;" in page and "<b>escaped</b>" not in page
    assert "1.2346" in page  # 4 decimals
    assert "Mean ΔΔ log_norm: " in page and "95% t-interval over layers" in page


def test_diversity_section_has_correlations(built: tuple[Path, str]) -> None:
    _, page = built
    section = page[page.index('<section id="diversity"') :]
    section = section[: section.index("</section>")]
    assert "diversity correlations" in section and "0.9000" in section and "-0.1000" in section


def test_figure_files_written(built: tuple[Path, str]) -> None:
    path, _ = built
    figures = path.parent / "figures"
    names = {p.stem for p in figures.glob("*.png")}
    assert names == {p.stem for p in figures.glob("*.svg")}
    assert {"category_means", "layer_profiles", "esd_panels", "outcomes", "synthetic"} <= names
    svg = (figures / "esd_panels.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg


def test_synthetic_section_only_with_gen_runs(tmp_path: Path) -> None:
    root = make_study(tmp_path, seeds=(0,), gen=False)
    (root / "diversity.parquet").unlink()
    for run in (root / "runs").iterdir():  # no weights: no ESD section either
        for f in run.glob("*.safetensors"):
            f.unlink()
    page = build_report(root, out=tmp_path / "r" / "x.html", formats=(),
                        compare_result=FAKE["paper"]).read_text()  # fmt: skip
    sections = re.findall(r'<section id="([^"]+)"', page)
    assert "synthetic" not in sections and "diversity" not in sections and "esd" not in sections
    assert not (tmp_path / "r" / "figures").exists()
    _assert_offline(page)


def test_bad_inputs_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a directory"):
        build_report(tmp_path / "missing")
    with pytest.raises(DataError, match=r"neither runs\.parquet"):
        build_report(tmp_path)
    with pytest.raises(ConfigError, match="unknown figure formats"):
        build_report(tmp_path, formats=("jpg",))


def _invoke(args: list[str]):
    from weightspace.cli import app

    if not isinstance(typer.main.get_command(app), typer.core.TyperGroup):
        args = args[1:]  # only one command registered: typer collapses the group
    return CliRunner().invoke(app, args)


def test_cli_bad_input_exits_2(tmp_path: Path) -> None:
    result = _invoke(["report", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "not a directory" in result.output
    result = _invoke(["report", str(tmp_path), "--formats", "gif"])
    assert result.exit_code == 2 and "unknown figure formats" in result.output


@pytest.mark.slow
def test_cli_on_published_tables(tmp_path: Path) -> None:
    out = tmp_path / "rn18.html"
    result = _invoke(["report", str(RN18), "--out", str(out), "--protocol", "paper",
                      "--formats", ""])  # fmt: skip
    assert result.exit_code == 0, result.output
    page = out.read_text()
    _assert_offline(page)
    sections = re.findall(r'<section id="([^"]+)"', page)
    assert sections == ["headline", "statistics", "category-means", "layer-profiles"]
    assert "6.9424" in page  # the paper's ANOVA F for ΔΔ log_norm (EXPECTED.md)
