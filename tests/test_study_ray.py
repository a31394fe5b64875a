"""The Ray runner against a local Ray instance on loopback (marked `ray`; CI runs it)."""

from __future__ import annotations

import pytest

from weightspace.study import StudySpec, expand, run_study
from weightspace.study._fake import FakeRun

pytestmark = pytest.mark.ray

SPEC = StudySpec(
    name="ray",
    seeds=(0, 1),
    conditions={"baseline": True, "dropout": [0.3], "weight_decay": [1e-3]},
)


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()


def test_ray_runner_writes_the_same_layout(local_ray, tmp_path):
    result = run_study(
        SPEC,
        tmp_path,
        workers=2,
        threads=1,
        runner="ray",
        run_fn=FakeRun(fail=("dp0.3",)),
        progress=False,
        analyze=False,
    )
    assert (result.total, result.done, result.failed) == (6, 4, 2)
    runs = result.runs
    assert sorted(runs[runs.status == "failed"].condition) == ["dp0.3", "dp0.3"]
    assert (tmp_path / "layers.parquet").is_file()
    assert local_ray.is_initialized()  # a runner that did not start Ray leaves it running

    # resume through Ray: only the failed runs are submitted again
    again = run_study(SPEC, tmp_path, runner="ray", run_fn=FakeRun(), progress=False, analyze=False)
    assert (again.done, again.failed, again.skipped) == (6, 0, 4)
    names = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert names == sorted(p.dir_name for p in expand(SPEC))
