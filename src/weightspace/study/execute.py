"""Run one planned run inside a worker (a pool process or a Ray task) and record the outcome.

The run function writes its directory atomically (:func:`weightspace.store.atomic_dir`), so a
worker killed at any moment leaves either a complete run directory or a ``.incomplete-*``
leftover that the next study start removes. A run that raises is recorded next to where
its directory would be, in ``<run_dir>.failed.json`` (error, traceback, time); the study
goes on with the other runs, and a rerun tries the failed run again.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from weightspace import store
from weightspace.store import failed_path
from weightspace.study.plan import RunPlan, with_threads
from weightspace.synthetic import build_training_set
from weightspace.train import run

log = logging.getLogger(__name__)

RunFn = Callable[..., dict[str, Any]]


def default_run_fn() -> RunFn:
    return functools.partial(run, synthesize=build_training_set)


def init_worker(threads: int, parent_pid: int | None = None) -> None:
    """Pool-process initializer: thread count, and die with the study process (Linux).

    Only environment variables are set here (torch is imported by the run itself, which
    sets its thread count from ``RunConfig.threads``), so a worker starts fast.
    """
    for var in ("WEIGHTSPACE_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    if parent_pid is not None and sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        except OSError:  # pragma: no cover - no libc
            pass
        if os.getppid() != parent_pid:  # the study process died before prctl took effect
            os._exit(1)


def execute(
    plan: RunPlan,
    runs_dir: str | os.PathLike[str],
    *,
    threads: int = 1,
    run_fn: RunFn | None = None,
) -> dict[str, Any]:
    """Train ``plan`` into ``runs_dir/plan.dir_name``; never raises for a failing run.

    Returns ``{"run_id", "status": "done"|"failed"|"skipped", "error", "wall_time_s"}``.
    """
    run_dir = Path(runs_dir) / plan.dir_name
    out: dict[str, Any] = {"run_id": plan.run_id, "error": "", "wall_time_s": 0.0}
    if store.is_complete(run_dir):
        return {**out, "status": "skipped"}
    fn = run_fn if run_fn is not None else default_run_fn()
    start = time.time()
    try:
        fn(with_threads(plan.config, threads), run_dir, progress=False)
    except Exception as err:
        wall = time.time() - start
        error = f"{type(err).__name__}: {err}"
        log.warning("run %s failed: %s", plan.dir_name, error)
        store.write_json(
            failed_path(run_dir),
            {
                "run_id": plan.run_id,
                "condition": plan.condition,
                "seed": plan.seed,
                "error": error,
                "traceback": traceback.format_exc(),
                "wall_time_s": wall,
                "time": time.time(),
                "host": os.uname().nodename,
            },
        )
        return {**out, "status": "failed", "error": error, "wall_time_s": wall}
    failed = failed_path(run_dir)
    if failed.exists():
        failed.unlink()
    return {**out, "status": "done", "wall_time_s": time.time() - start}
