"""Study execution with a stand-in run function: failure isolation, resume after SIGKILL,
worker deaths, the study lock, the collected tables and the time estimate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from weightspace import store
from weightspace.study import StudySpec, collect, expand, plan_table, run_study
from weightspace.study._fake import FakeRun
from weightspace.study.lock import LOCK_NAME, StudyLock, StudyLockedError
from weightspace.study.summary import estimate_seconds

SPEC = StudySpec(
    name="fake",
    seeds=(0, 1),
    conditions={"baseline": True, "dropout": [0.1, 0.5], "weight_decay": [1e-3]},
)


def _complete(study: Path) -> dict[str, float]:
    """Complete run directory name -> the time its (fake) run finished."""
    runs = study / "runs"
    return {
        p.name: store.read_json(p / "provenance.json")["finished"]
        for p in runs.iterdir()
        if p.is_dir() and store.is_complete(p)
    }


def test_failure_is_recorded_and_the_study_goes_on(tmp_path):
    result = run_study(
        SPEC, tmp_path, workers=2, run_fn=FakeRun(fail=("dp0.1",)), progress=False, analyze=False
    )
    assert (result.total, result.done, result.failed) == (8, 6, 2)
    runs = result.runs
    failed = runs[runs.status == "failed"]
    assert sorted(failed.condition) == ["dp0.1", "dp0.1"]
    assert all("injected failure" in e for e in failed.error)
    assert (runs[runs.status == "done"].test_acc > 0.5).all()
    record = next((tmp_path / "runs").glob("dp0.1__s0__*.failed.json"))
    assert "RuntimeError" in store.read_json(record)["traceback"]
    # a rerun retries the failed runs only, and clears their failure records
    again = run_study(SPEC, tmp_path, workers=2, run_fn=FakeRun(), progress=False, analyze=False)
    assert (again.done, again.failed, again.skipped) == (8, 0, 6)
    assert not list((tmp_path / "runs").glob("*.failed.json"))


def test_a_worker_killed_mid_run_is_retried(tmp_path):
    fake = FakeRun(crash=("dp0.5",), marker_dir=str(tmp_path))
    result = run_study(SPEC, tmp_path / "s", workers=2, run_fn=fake, progress=False, analyze=False)
    assert (result.done, result.failed) == (8, 0)
    assert len(list(tmp_path.glob("crashed-dp0.5-*"))) == 2  # both seeds died once


KILL_SCRIPT = """
import sys
from weightspace.study import StudySpec, run_study
from weightspace.study._fake import FakeRun
if __name__ == "__main__":  # the spawned workers import this file
    spec = StudySpec(name="fake", seeds=(0, 1),
                     conditions={"baseline": True, "dropout": [0.1, 0.5], "weight_decay": [1e-3]})
    run_study(spec, sys.argv[1], workers=2, run_fn=FakeRun(seconds=1.0), progress=False,
              analyze=False)
"""


def test_sigkill_then_rerun_loses_and_duplicates_nothing(tmp_path):
    study = tmp_path / "study"
    script = tmp_path / "study.py"
    script.write_text(textwrap.dedent(KILL_SCRIPT))
    proc = subprocess.Popen([sys.executable, str(script), str(study)])
    deadline = time.time() + 120
    while time.time() < deadline:
        if (study / "runs").is_dir() and len(_complete(study)) >= 2:
            break
        if proc.poll() is not None:
            pytest.fail("the study finished before it could be killed")
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("no run finished within 120 s")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (study / LOCK_NAME).is_file()  # left behind by the killed study
    time.sleep(2.5)  # longer than one fake run: a surviving worker would finish its run now
    before = _complete(study)
    assert 2 <= len(before) < 8
    assert _complete(study) == before, "worker processes outlived the killed study"

    result = run_study(SPEC, study, workers=2, run_fn=FakeRun(), progress=False, analyze=False)
    assert (result.done, result.failed, result.skipped) == (8, 0, len(before))
    after = _complete(study)
    assert len(after) == 8
    assert {k: after[k] for k in before} == before  # finished runs kept as they were
    names = sorted(p.name for p in (study / "runs").iterdir())
    assert names == sorted(p.dir_name for p in expand(SPEC))  # no leftovers, no duplicates
    assert not (study / LOCK_NAME).exists()


def test_lock_refuses_a_live_owner_and_takes_over_a_stale_one(tmp_path):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        lock = tmp_path / LOCK_NAME
        lock.write_text(json.dumps({"pid": sleeper.pid, "host": os.uname().nodename}))
        with pytest.raises(StudyLockedError, match=f"in use by process {sleeper.pid}"):
            run_study(SPEC, tmp_path, workers=0, run_fn=FakeRun(), progress=False)
    finally:
        sleeper.kill()
        sleeper.wait()
    # the owner is gone: the lock is stale and the study proceeds
    result = run_study(SPEC, tmp_path, workers=0, run_fn=FakeRun(), progress=False, analyze=False)
    assert result.done == 8
    assert not lock.exists()
    # a lock from another host cannot be checked: refused with the way out
    lock.write_text(json.dumps({"pid": 1, "host": "elsewhere"}))
    with pytest.raises(StudyLockedError, match=r"on host 'elsewhere'.*delete"):
        StudyLock(tmp_path).acquire()


def test_tables_are_plain_parquet_and_collect_rebuilds_them(tmp_path):
    run_study(SPEC, tmp_path, workers=0, run_fn=FakeRun(), progress=False, analyze=False)
    code = (
        "import sys, pyarrow.parquet as pq\n"
        f"r = pq.read_table({str(tmp_path / 'runs.parquet')!r})\n"
        f"l = pq.read_table({str(tmp_path / 'layers.parquet')!r})\n"
        "assert 'weightspace' not in sys.modules\n"
        "print(r.num_rows, l.num_rows, ','.join(r.column_names))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    n_runs, n_layers, columns = out.stdout.split()
    assert (int(n_runs), int(n_layers)) == (8, 8 * 2 * 4)  # runs × snapshots × layers
    for col in ("run_id", "condition", "category", "seed", "status", "error", "strength"):
        assert col in columns.split(",")
    for col in ("augment", "dropout", "weight_decay", "test_acc", "ood_gaussian_noise_3"):
        assert col in columns.split(",")

    runs, layers = collect(tmp_path)
    (tmp_path / "runs.parquet").unlink()
    (tmp_path / "study.toml").unlink()  # without the spec, collect scans the run directories
    runs2, layers2 = collect(tmp_path)
    key = ["condition", "seed"]
    assert runs2.sort_values(key).run_id.tolist() == runs.sort_values(key).run_id.tolist()
    assert len(layers2) == len(layers)
    assert set(layers.snapshot) == {"before", "after"}
    assert set(runs2.category) == {"bs", "dp", "wd"}
    assert runs2.set_index("condition").strength.to_dict()["wd0.001"] == 1e-3


def test_headline_and_plan_table(tmp_path):
    result = run_study(
        SPEC, tmp_path, workers=0, run_fn=FakeRun(fail=("dp0.5",)), progress=False, analyze=False
    )
    h = result.overview
    assert h.baseline_runs == 2 and 0.8 < h.baseline_acc_mean < 0.9
    # the fake run shrinks log_norm with weight decay: the wd category must show it
    assert h.deltas["wd"]["log_norm"] < h.deltas["bs"]["log_norm"] - 0.03
    assert "dp" in h.deltas and h.deltas["dp"]["runs"] == 2
    assert any("baseline test accuracy" in line for line in h.lines())
    table = plan_table(expand(SPEC), tmp_path)
    assert table.status.value_counts().to_dict() == {"done": 6, "failed": 2}
    assert plan_table(expand(SPEC.with_overrides(lr=0.1)), tmp_path).status.eq("pending").all()


def test_time_estimate():
    plans = expand(StudySpec.from_preset("quick"))
    one, two = estimate_seconds(plans, workers=1), estimate_seconds(plans, workers=2)
    assert one > 0 and two == pytest.approx(one / 2, rel=0.1)
    doubled = estimate_seconds(plans, workers=2, measured={plans[0].run_id: 1e9})
    assert doubled > 1e3 * two  # rescaled by the measured / model ratio
    assert estimate_seconds([], workers=2) == 0.0


def test_missing_pretrained_weights_stop_the_study_before_any_run(tmp_path):
    from weightspace.errors import ConfigError

    spec = StudySpec.from_preset("paper-finetune").with_overrides(
        pretrained=str(tmp_path / "nope.pth"), device="cpu"
    )
    with pytest.raises(ConfigError, match=r"nope\.pth.*--pretrained PATH"):
        run_study(spec, tmp_path / "study", workers=0, progress=False)
    assert not (tmp_path / "study").exists()


def test_synthetic_and_combination_runs_are_labelled_in_the_tables(tmp_path):
    spec = StudySpec(
        name="gen",
        seeds=(0,),
        conditions={
            "baseline": True,
            "synthetic": {"mode": "add", "fractions": [0.5]},
            "combinations": [{"augment": "noise10", "weight_decay": 1e-4}],
        },
    )
    result = run_study(spec, tmp_path, workers=0, run_fn=FakeRun(), progress=False, analyze=False)
    runs = result.runs.set_index("condition")
    assert list(runs.index) == ["bs", "gen0.5_add", "divNoize10+wd0.0001"]
    assert runs.loc["gen0.5_add", "category"] == "gen"
    assert runs.loc["gen0.5_add", "strength"] == 0.5
    assert runs.loc["gen0.5_add", "synthetic_mode"] == "add"
    assert runs.loc["gen0.5_add", "synthetic_fraction"] == 0.5
    combo = runs.loc["divNoize10+wd0.0001"]
    assert (combo.category, combo.augment, combo.weight_decay) == ("combo", "noise10", 1e-4)
