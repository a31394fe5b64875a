"""The study store: manifests, run status, damaged runs moved aside and rerun, damaged
tables named with the way to rebuild them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from weightspace import store
from weightspace.cli import main
from weightspace.cli._app import app
from weightspace.errors import DataError
from weightspace.store import RunStatus, StudyPaths
from weightspace.study import StudySpec, run_study
from weightspace.study._fake import FakeRun

SPEC = StudySpec(
    name="fake",
    seeds=(0, 1),
    conditions={"baseline": True, "dropout": [0.5], "weight_decay": [1e-3]},
)


def _run_dirs(study: Path) -> list[Path]:
    return sorted(
        p for p in (study / "runs").iterdir() if p.is_dir() and not p.name.startswith(".")
    )


def _study(tmp_path: Path) -> Path:
    study = tmp_path / "study"
    run_study(SPEC, study, workers=0, run_fn=FakeRun(), progress=False, analyze=False)
    return study


def test_atomic_dir_writes_a_manifest_of_every_file(tmp_path):
    with store.atomic_dir(tmp_path / "r") as tmp:
        (tmp / "a.txt").write_text("hello")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "b.bin").write_bytes(b"\x00" * 10)
    manifest = json.loads((tmp_path / "r" / store.MANIFEST).read_text())
    assert manifest["files"] == {
        "a.txt": {"size": 5, "sha256": store.sha256_file(tmp_path / "r" / "a.txt")},
        "sub/b.bin": {"size": 10, "sha256": store.sha256_file(tmp_path / "r" / "sub" / "b.bin")},
    }
    assert store.check_run(tmp_path / "r") == []
    assert store.run_status(tmp_path / "r") is RunStatus.DONE


def test_check_run_finds_missing_truncated_and_changed_files(tmp_path):
    with store.atomic_dir(tmp_path / "r") as tmp:
        (tmp / "a.txt").write_text("hello")
        (tmp / "b.txt").write_text("world")
        (tmp / "c.txt").write_text("again")
    run = tmp_path / "r"
    (run / "a.txt").unlink()
    (run / "b.txt").write_text("wor")
    (run / "c.txt").write_text("AGAIN")  # same size, other bytes
    problems = store.check_run(run)
    assert problems[0] == "a.txt is missing"
    assert problems[1] == "b.txt has 3 bytes, expected 5"
    assert "c.txt has changed" in problems[2]
    assert store.check_run(run, hashes=False) == problems[:2]
    assert store.run_status(run) is RunStatus.DAMAGED
    assert not RunStatus.DAMAGED.usable and RunStatus.DONE.usable


def test_run_status_of_every_state(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    assert store.run_status(runs / "bs__s0__x") is RunStatus.PENDING
    store.write_json(store.failed_path(runs / "bs__s0__x"), {"error": "boom"})
    assert store.run_status(runs / "bs__s0__x") is RunStatus.FAILED
    assert [r.status for r in store.iter_runs(runs)] == [RunStatus.FAILED]
    assert next(store.iter_runs(runs)).error == "boom"
    assert RunStatus("done") is RunStatus.DONE and RunStatus.DONE == "done"


def test_a_run_without_manifest_is_checked_for_its_required_files(tmp_path):
    run = tmp_path / "bs__s0__x"
    run.mkdir()
    (run / store.COMPLETE).write_text("ok\n")
    for name in store.layout.REQUIRED_FILES:
        (run / name).write_text("x")
    assert store.check_run(run) == []
    (run / store.METRICS_FILE).unlink()
    assert store.check_run(run) == ["metrics.json is missing"]


def test_load_run_and_iter_runs_read_a_study(tmp_path):
    study = _study(tmp_path)
    runs = list(store.iter_runs(StudyPaths(study).runs_dir))
    assert len(runs) == 6
    assert {r.condition for r in runs} == {"bs", "dp0.5", "wd0.001"}
    assert all(r.status is RunStatus.DONE for r in runs)
    one = store.read_run(runs[0].path, hashes=True)
    assert one.status is RunStatus.DONE
    assert one.snapshots() == ["after", "before"]
    assert len(one.spectra("after")) == 4
    assert one.config["condition"] == one.condition


def test_missing_metrics_of_a_finished_run_is_moved_aside_and_rerun(tmp_path):
    """A deleted metrics.json used to give a "done" run with NaN accuracy."""
    study = _study(tmp_path)
    victim = next(p for p in _run_dirs(study) if p.name.startswith("bs__s1__"))
    (victim / "metrics.json").unlink()
    result = run_study(SPEC, study, workers=0, run_fn=FakeRun(), progress=False, analyze=False)
    assert (result.total, result.done, result.skipped) == (6, 6, 5)
    assert len(result.damaged) == 1 and "metrics.json is missing" in result.damaged[0]
    moved = list((study / "runs" / ".damaged").iterdir())
    assert len(moved) == 1 and moved[0].name.startswith(victim.name + ".")
    assert not (moved[0] / "metrics.json").exists()  # kept as it was
    assert (victim / "metrics.json").is_file()  # run again
    runs = result.runs
    assert runs["test_acc"].notna().all() and (runs.status == "done").all()


def test_truncated_spectra_of_a_finished_run_is_moved_aside_and_rerun(tmp_path):
    """A truncated spectra_after.parquet used to end the rerun in a pyarrow traceback."""
    study = _study(tmp_path)
    victim = _run_dirs(study)[2]
    path = victim / "spectra_after.parquet"
    path.write_bytes(path.read_bytes()[:100])
    result = run_study(SPEC, study, workers=0, run_fn=FakeRun(), progress=False, analyze=False)
    assert result.done == 6 and len(result.damaged) == 1
    assert "spectra_after.parquet has 100 bytes" in result.damaged[0]
    layers = pd.read_parquet(study / "layers.parquet")
    assert layers.groupby("run_id").ngroups == 6


def test_collect_marks_a_damaged_run_and_leaves_it_out(tmp_path):
    from weightspace.study import collect

    study = _study(tmp_path)
    victim = _run_dirs(study)[0]
    (victim / "spectra_after.parquet").write_bytes(b"PAR1")
    runs, layers = collect(study)
    row = runs[runs.run_dir == f"runs/{victim.name}"].iloc[0]
    assert row.status == "damaged" and "spectra_after.parquet" in row.error
    assert row.run_id not in set(layers.run_id)


def test_a_truncated_layers_table_names_the_file_and_the_rebuild(tmp_path, capsys):
    study = _study(tmp_path)
    table = StudyPaths(study).layers_table
    table.write_bytes(table.read_bytes()[:200])
    with pytest.raises(DataError, match=r"layers\.parquet cannot be read") as err:
        store.read_study_table(table)
    assert "weightspace study --collect --out" in str(err.value)
    with pytest.raises(SystemExit) as code:
        main(["compare", str(study), "--out", str(tmp_path / "cmp")])
    assert code.value.code == 2
    msg = capsys.readouterr().err
    assert "layers.parquet cannot be read" in msg and "--collect" in msg
    assert "Traceback" not in msg
    # the rebuild command repairs it
    res = CliRunner().invoke(app, ["study", "--collect", "--out", str(study)])
    assert res.exit_code == 0, res.output
    assert "collected 6 runs" in res.output
    assert len(pd.read_parquet(table)) > 0


def test_usable_keeps_only_runs_whose_status_allows_it():
    runs = pd.DataFrame({"status": ["done", "failed", "pending", "damaged", "ok", "DONE"]})
    assert store.usable(runs).tolist() == [True, False, False, False, True, True]
    assert store.usable(pd.DataFrame({"x": [1]})).tolist() == [True]


def test_a_study_whose_comparison_fails_exits_non_zero_and_keeps_its_runs(tmp_path, monkeypatch):
    from weightspace.study import orchestrate

    def broken(*args, **kwargs):
        raise RuntimeError("comparison bug")

    monkeypatch.setattr(orchestrate, "compare", broken)
    monkeypatch.setattr(orchestrate, "run_study", _fake_run_study(orchestrate.run_study))
    monkeypatch.setattr("weightspace.cli.study.run_study", orchestrate.run_study)
    study = tmp_path / "study"
    stale = StudyPaths(study).compare_protocol_dir("default")  # from an earlier comparison
    stale.mkdir(parents=True)
    (stale / "compare.json").write_text("{}")
    (stale / "fingerprint.csv").write_text("name\nold\n")
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.to_toml())
    res = CliRunner().invoke(app, ["study", str(spec), "--out", str(study), "--workers", "0"])
    assert res.exit_code == 1, res.output
    assert "comparison (paper) failed: RuntimeError: comparison bug" in res.output
    # the earlier comparison no longer matches the runs: removed, and the report says so
    assert not (stale / "compare.json").exists() and not (stale / "fingerprint.csv").exists()
    page = (study / "report.html").read_text()
    assert f"weightspace compare {study} --save" in page
    assert "every finished run" in res.output
    assert len(_run_dirs(study)) == 6
    assert all(store.run_status(p) is RunStatus.DONE for p in _run_dirs(study))
    assert (pd.read_parquet(study / "runs.parquet").status == "done").all()


def _fake_run_study(real):
    def run(*args, **kwargs):
        return real(*args, **{**kwargs, "run_fn": FakeRun()})

    return run


def test_a_bad_thread_count_is_a_config_error(monkeypatch):
    from weightspace.errors import ConfigError
    from weightspace.threads import default_threads, set_threads

    monkeypatch.setenv("WEIGHTSPACE_THREADS", "two")
    with pytest.raises(ConfigError, match="not an integer"):
        default_threads()
    with pytest.raises(ConfigError, match=">= 1"):
        set_threads(0)


def test_categories_come_from_the_condition_and_combo_from_the_name_rules(tmp_path):
    """A study's tables carry the category its Condition set (a combination named like an
    augmentation stays ``combo``); only tables without one fall back to the name rules, which
    call ``divAuto+dp0.3`` a combination too."""
    from weightspace.compare import DEFAULT_RULES, load_layers, load_runs

    spec = StudySpec(
        name="combo",
        seeds=(0,),
        conditions={
            "baseline": True,
            "dropout": [0.3],
            "combinations": [
                {"augment": "auto", "dropout": 0.3},
                {"dropout": 0.1, "weight_decay": 1e-3, "name": "divLike"},
            ],
        },
    )
    study = tmp_path / "s"
    run_study(spec, study, workers=0, run_fn=FakeRun(), progress=False, analyze=False)
    runs = pd.read_parquet(study / "runs.parquet").set_index("condition")
    assert runs.loc["divAuto+dp0.3", "category"] == "combo"
    assert runs.loc["divLike", "category"] == "combo"  # the name rules would say "div"
    assert DEFAULT_RULES.category("divLike") == "div"
    assert DEFAULT_RULES.category("divAuto+dp0.3") == "combo"
    layers = load_layers(study)
    assert set(layers.loc[layers.condition == "divLike", "category"]) == {"combo"}
    assert load_runs(study).set_index("condition").loc["divLike", "category"] == "combo"


def test_compare_tables_script_reports_identical_and_changed_values(tmp_path):
    import subprocess
    import sys

    study = _study(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    script = Path(__file__).resolve().parents[1] / "scripts" / "compare_tables.py"
    runs = pd.read_parquet(study / "runs.parquet")
    layers = pd.read_parquet(study / "layers.parquet")
    runs.assign(wall_time_s=1.0, new_column=1).to_parquet(other / "runs.parquet")
    layers.to_parquet(other / "layers.parquet")
    same = subprocess.run(
        [sys.executable, str(script), str(study), str(other)], capture_output=True, text=True
    )
    assert same.returncode == 0, same.stdout + same.stderr
    assert "columns only in B: ['new_column']" in same.stdout
    layers.loc[3, "alpha"] += 1e-12
    layers.to_parquet(other / "layers.parquet")
    changed = subprocess.run(
        [sys.executable, str(script), str(study), str(other)], capture_output=True, text=True
    )
    assert changed.returncode == 1
    assert "column 'alpha': 1 of" in changed.stdout
