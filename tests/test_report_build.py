"""build_report and the `weightspace report` CLI: a reader of the study's stored tables.

The fixture study is compared once (both protocols, stored in its compare/ folder as the
study command does); every report is then rendered from what was stored.
"""

from __future__ import annotations

import collections
import html
import re
import shutil
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from report_fixtures import make_study
from weightspace.compare import compare
from weightspace.compare.prediction import HEADLINE_FAMILY
from weightspace.compare.result import save_to_study
from weightspace.errors import ConfigError, DataError
from weightspace.report import build_report

RN18 = Path(__file__).resolve().parent / "data" / "paper-tables" / "rn18-cifar10-scratch"
FIRST_SCREEN = ["answer", "accuracy"]


def _images(page: str) -> list[str]:
    return re.findall(r'<img [^>]*src="(data:image/png;base64,[A-Za-z0-9+/=]+)"', page)


def _assert_offline(page: str) -> None:
    assert "http:" not in page and "https:" not in page
    assert 'src="//' not in page and 'href="//' not in page and "url(" not in page
    assert "<script" not in page and "<link" not in page
    srcs = re.findall(r'src="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)


def corr_table(study: Path) -> pd.DataFrame:
    return pd.read_parquet(study / "diversity_correlations.parquet")


def _sections(page: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)"', page)


def _section(page: str, sid: str) -> str:
    part = page[page.index(f'<section id="{sid}"') :]
    return part[: part.index("</section>")]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_study(tmp_path_factory.mktemp("study") / "study", seeds=(0, 1, 2))
    div = pd.read_parquet(root / "diversity.parquet")
    div["data_condition"] = div["category"].isin(["bs", "div", "gen"])
    div.to_parquet(root / "diversity.parquet")
    corr = pd.DataFrame({"stratum": ["augmentation", "augmentation"], "score": ["vs_emb", "wvs"],
                         "target": "acc_gain", "n": 6, "spearman": [0.9, 0.8], "p": [0.01, 0.06],
                         "spearman_lo": [0.5, -0.1], "spearman_hi": [1.0, 0.99],
                         "p_adj": [0.02, 0.06], "power": [0.9, 0.45],
                         "family": HEADLINE_FAMILY})  # fmt: skip
    corr.to_parquet(root / "diversity_correlations.parquet")
    results = {"default": compare(root, n_perm=200, n_boot=100, n_sims=20),
               "paper": compare(root, protocol="paper")}  # fmt: skip
    save_to_study(root, results)
    return root


@pytest.fixture(scope="module")
def built(study: Path) -> tuple[Path, str]:
    path = build_report(study, formats=("png", "svg"), esd_layers=["conv1", "fc"])
    return path, path.read_text()


def test_report_is_self_contained_with_every_section(built: tuple[Path, str]) -> None:
    path, page = built
    assert path.name == "report.html"
    _assert_offline(page)
    assert _sections(page) == [
        *FIRST_SCREEN, "fingerprint", "rotation", "category-means", "layer-profiles", "esd",
        "dose-response", "outcomes", "diversity", "synthetic", "statistics", "paper",
    ]  # fmt: skip
    # only the first screen is open; everything else is behind a fold
    for sid in _sections(page):
        folded = _section(page, sid).split(">", 1)[1].startswith("<details>")
        assert folded == (sid not in FIRST_SCREEN), sid
    assert plt.get_fignums() == []


def test_first_screen_answers_from_the_stored_comparison(study: Path, built: tuple[Path, str]):
    from weightspace.compare import CompareResult
    from weightspace.compare.conclude import axis_sentence, prediction_sentence, rotation_headline

    _, page = built
    answer = _section(page, "answer")
    assert 'id="fig-axis"' in answer
    stored = CompareResult.from_dir(study / "compare" / "default")
    for key, sentence in (("axis", axis_sentence(stored.tables)),
                          ("rotation", rotation_headline(stored.tables)[0])):  # fmt: skip
        item = re.search(rf'<li id="answer-{key}">(.*?)</li>', answer).group(1)
        assert sentence.removeprefix("Rotate or rescale: ") in html.unescape(item), key
    prediction = re.search(r'<li id="answer-prediction">(.*?)</li>', answer).group(1)
    assert html.unescape(prediction).endswith(prediction_sentence(corr_table(study)))
    assert ("the weighted Vendi score (VS × ρ) shows no evidence that it predicts the accuracy "
            "gain (Spearman ρ = 0.80, 95% CI -0.10 to 0.99; Holm p = 0.060, power 45%)"
            ) in html.unescape(prediction)  # fmt: skip
    assert "Design: 9 conditions (" in answer and "× 3 seeds; baseline 3 seeds; 30 runs" in answer
    assert "power" in re.search(r'<li id="answer-axis">(.*?)</li>', answer).group(1)
    assert 'id="fig-accuracy"' in _section(page, "accuracy")


def test_no_table_or_sentence_twice(built: tuple[Path, str]) -> None:
    """Every bullet, paragraph and table of the page appears once (the paper protocol's
    ANOVA among them, which both protocols compute)."""
    _, page = built
    for pattern in (r"<li[^>]*>(.*?)</li>", r"<p[^>]*>(.*?)</p>", r"<table>.*?</table>"):
        items = re.findall(pattern, page, flags=re.S)
        twice = [k[:80] for k, n in collections.Counter(items).items() if n > 1]
        assert items and not twice, (pattern, twice)
    assert page.count("paper protocol: anova") == 1 and "default: anova" not in page
    statistics = _section(page, "statistics")
    assert "Data diversity sits at" not in statistics and "Rotate or rescale" not in statistics


def test_fingerprint_is_a_picture_not_a_heatmap(built: tuple[Path, str]) -> None:
    path, page = built
    section = _section(page, "fingerprint")
    assert 'id="fig-fingerprint_map"' in section and "fingerprint: verdicts" in section
    names = {p.stem for p in (path.parent / "figures").glob("*.png")}
    assert {"axis", "fingerprint_map", "accuracy", "rotation"} <= names
    assert "fingerprint" not in names  # the old per-column heatmap


def test_diversity_section_has_correlations(built: tuple[Path, str]) -> None:
    _, page = built
    section = _section(page, "diversity")
    assert "diversity correlations" in section and "0.9000" in section and "-0.1000" in section


def test_figure_files_written(built: tuple[Path, str]) -> None:
    path, _ = built
    figures = path.parent / "figures"
    names = {p.stem for p in figures.glob("*.png")}
    assert names == {p.stem for p in figures.glob("*.svg")}
    assert {"category_means", "layer_profiles", "esd_panels", "outcomes", "synthetic"} <= names
    svg = (figures / "esd_panels.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg


def _statistical_calls(study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Render a report while recording every call into weightspace.stats and scipy.stats;
    weightspace.compare.compare and the protocols raise if called."""
    import weightspace.cli  # imported before the profiler watches (imports run module code)
    import weightspace.compare
    import weightspace.compare.result

    def refuse(*args, **kwargs):
        raise AssertionError("the report ran a comparison")

    for module in (weightspace.compare, weightspace.compare.result):
        for name in ("compare", "default_tables", "paper_tables"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, refuse)
    calls: list[str] = []

    def profile(frame, event, arg) -> None:
        if event == "call":
            where = frame.f_code.co_filename.replace("\\", "/")
            if "/weightspace/stats/" in where or "/scipy/stats/" in where:
                calls.append(f"{where}:{frame.f_code.co_name}")

    out = tmp_path / "r.html"
    sys.setprofile(profile)
    try:
        result = _invoke(["report", str(study), "--out", str(out), "--formats", ""])
    finally:
        sys.setprofile(None)
    assert result.exit_code == 0, result.output
    return calls, out.read_text()


def test_report_on_a_finished_study_calls_no_statistical_test(study, tmp_path, monkeypatch):
    """`weightspace report` on a finished study: no comparison, no call into a statistics
    module (its time is in bench/report_render.py)."""
    calls, page = _statistical_calls(study, tmp_path, monkeypatch)
    assert calls == [], sorted(set(calls))[:10]
    assert 'id="fig-axis"' in page and "Data diversity sits at" in page


def test_the_profiler_would_see_a_statistical_test(study, tmp_path, monkeypatch):
    """Negative control for the test above: the same hook records a call into stats."""
    from weightspace.stats import spearman_test

    calls: list[str] = []

    def profile(frame, event, arg) -> None:
        if event == "call" and "/weightspace/stats/" in frame.f_code.co_filename:
            calls.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        spearman_test(np.array([1.0, 2, 3, 4, 5]), np.array([1.0, 3, 2, 5, 4]),
                      rng=np.random.default_rng(0))  # fmt: skip
    finally:
        sys.setprofile(None)
    assert calls


def test_without_stored_results_the_sections_name_the_command(study: Path, tmp_path: Path):
    bare = tmp_path / "bare"
    shutil.copytree(study, bare, ignore=shutil.ignore_patterns("compare", "report.html"))
    page = build_report(bare, out=tmp_path / "r.html", formats=()).read_text()
    command = f"weightspace compare {bare} --save"
    for sid in ("statistics", "paper"):
        assert command in _section(page, sid), sid
    answer = _section(page, "answer")
    assert "Not computed:" in answer and command in answer
    assert "fingerprint" not in _sections(page)
    _assert_offline(page)


def test_results_from_another_folder(study: Path, tmp_path: Path):
    bare = tmp_path / "bare"
    shutil.copytree(study, bare, ignore=shutil.ignore_patterns("compare", "report.html"))
    page = build_report(bare, out=tmp_path / "r.html", formats=(), protocols=("paper",),
                        results_dir=study / "compare").read_text()  # fmt: skip
    assert "paper protocol: anova" in page and "statistics" not in _sections(page)


def test_synthetic_section_only_with_gen_runs(tmp_path: Path) -> None:
    root = make_study(tmp_path, seeds=(0,), gen=False)
    (root / "diversity.parquet").unlink()
    for run in (root / "runs").iterdir():  # no weights: no ESD section either
        for f in run.glob("*.safetensors"):
            f.unlink()
    page = build_report(root, out=tmp_path / "r" / "x.html", formats=()).read_text()
    sections = _sections(page)
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
    """A folder of WeightWatcher CSV tables: `weightspace compare --out` stores the paper
    protocol elsewhere, `weightspace report --results` reads it."""
    results, out = tmp_path / "results", tmp_path / "rn18.html"
    stored = _invoke(["compare", str(RN18), "--protocol", "paper", "--out",
                      str(results / "paper")])  # fmt: skip
    assert stored.exit_code == 0, stored.output
    result = _invoke(["report", str(RN18), "--out", str(out), "--protocol", "paper",
                      "--results", str(results), "--formats", ""])  # fmt: skip
    assert result.exit_code == 0, result.output
    page = out.read_text()
    _assert_offline(page)
    assert _sections(page) == ["answer", "category-means", "layer-profiles", "paper"]
    assert "6.9424" in page  # the paper's ANOVA F for ΔΔ log_norm (EXPECTED.md)
    assert not (RN18 / "compare").exists()
