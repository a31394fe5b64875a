"""Runners: execute a list of planned runs on a local process pool or on a Ray cluster.

Both write the same layout (``<study>/runs/<run dir>``) through :func:`execute`, which never
raises for a failing run, so one failure does not stop a study.

Local: a ``spawn`` process pool (torch and ``fork`` do not mix), ``workers`` processes ×
``threads`` torch threads each. Worker processes die with the study process (Linux
``PR_SET_PDEATHSIG``), so a study killed with SIGKILL leaves no orphan still training.
A worker that dies mid-run (out of memory, a crash in native code) breaks the pool; the
runs it held are retried in a fresh pool, up to :data:`MAX_ATTEMPTS` times, then recorded
as failed.

Ray: each run is a Ray task with ``num_cpus=threads`` and one GPU when its device is CUDA.
The study directory must be on storage that every Ray node sees at the same path.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from weightspace import store
from weightspace.errors import ConfigError
from weightspace.store import failed_path
from weightspace.study.execute import RunFn, execute, init_worker
from weightspace.study.plan import RunPlan

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
RUNNERS = ("local", "ray")
Report = Callable[[dict[str, Any]], None]


class ProgressBar:
    """tqdm on stderr showing runs done / failed / remaining and the ETA."""

    def __init__(self, total: int, *, desc: str, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.done = self.failed = 0
        self.total = total
        self.bar = tqdm(total=total, desc=desc, unit="run", file=sys.stderr, disable=not enabled)
        self._postfix()

    def _postfix(self) -> None:
        left = self.total - self.done - self.failed
        self.bar.set_postfix(done=self.done, failed=self.failed, left=left, refresh=False)

    def __call__(self, result: dict[str, Any]) -> None:
        if result["status"] == "failed":
            self.failed += 1
        else:
            self.done += 1
        self._postfix()
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _record_crash(plan: RunPlan, runs_dir: Path, error: str) -> dict[str, Any]:
    store.write_json(
        failed_path(runs_dir / plan.dir_name),
        {"run_id": plan.run_id, "condition": plan.condition, "seed": plan.seed, "error": error},
    )
    return {"run_id": plan.run_id, "status": "failed", "error": error, "wall_time_s": 0.0}


def run_inline(
    plans: Sequence[RunPlan], runs_dir: Path, *, threads: int, run_fn: RunFn | None, report: Report
) -> list[dict[str, Any]]:
    """Run in this process, one after the other (``workers=0``; for debugging)."""
    results = []
    for plan in plans:
        results.append(execute(plan, runs_dir, threads=threads, run_fn=run_fn))
        report(results[-1])
    return results


def run_local(
    plans: Sequence[RunPlan],
    runs_dir: Path,
    *,
    workers: int,
    threads: int,
    run_fn: RunFn | None,
    report: Report,
) -> list[dict[str, Any]]:
    """Run on a pool of ``workers`` spawned processes."""
    if workers == 0:
        return run_inline(plans, runs_dir, threads=threads, run_fn=run_fn, report=report)
    ctx = multiprocessing.get_context("spawn")
    attempts: Counter[str] = Counter()
    results: list[dict[str, Any]] = []
    pending = list(plans)
    while pending:
        pool = ProcessPoolExecutor(
            max_workers=min(workers, len(pending)),
            mp_context=ctx,
            initializer=init_worker,
            initargs=(threads, os.getpid()),
        )
        try:
            futures = {
                pool.submit(execute, plan, runs_dir, threads=threads, run_fn=run_fn): plan
                for plan in pending
            }
            pending = []
            for fut in as_completed(futures):
                plan = futures[fut]
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    attempts[plan.run_id] += 1
                    if attempts[plan.run_id] < MAX_ATTEMPTS:
                        pending.append(plan)
                        continue
                    result = _record_crash(
                        plan, runs_dir, f"worker process died {MAX_ATTEMPTS} times during the run"
                    )
                results.append(result)
                report(result)
        except BaseException:  # Ctrl-C: drop queued runs; running ones stay unfinished (resumable)
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        if pending:
            log.warning("a worker process died; retrying %d runs in a fresh pool", len(pending))
    return results


def _execute_task(
    plan: RunPlan, runs_dir: str, threads: int, run_fn: RunFn | None
) -> dict[str, Any]:
    """:func:`execute` with positional arguments, as a Ray task."""
    return execute(plan, runs_dir, threads=threads, run_fn=run_fn)


def run_ray(
    plans: Sequence[RunPlan],
    runs_dir: Path,
    *,
    workers: int,
    threads: int,
    run_fn: RunFn | None,
    report: Report,
    address: str | None = None,
) -> list[dict[str, Any]]:
    """Run each plan as a Ray task; connects to ``address`` or starts a local instance."""
    try:
        import ray
    except ImportError as err:
        raise ConfigError(
            "--runner ray needs the 'ray' package; install it with "
            "`pip install 'weightspace[ray]'` or use --runner local"
        ) from err
    own = not ray.is_initialized()
    if own:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(
                address="local",
                num_cpus=max(1, workers) * threads,
                include_dashboard=False,
                log_to_driver=False,
            )
    try:
        task = ray.remote(_execute_task)
        refs = {}
        for plan in plans:
            gpus = 1 if str(plan.config.device).startswith("cuda") else 0
            ref = task.options(num_cpus=threads, num_gpus=gpus, max_retries=1).remote(
                plan, str(runs_dir.resolve()), threads, run_fn
            )
            refs[ref] = plan
        results = []
        waiting = list(refs)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            plan = refs[ready[0]]
            try:
                result = ray.get(ready[0])
            except Exception as err:  # the task's process died (RayTaskError, WorkerCrashedError)
                result = _record_crash(plan, runs_dir, f"Ray task failed: {err}")
            results.append(result)
            report(result)
        return results
    finally:
        if own:
            ray.shutdown()
