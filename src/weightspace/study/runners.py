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
The study directory must be on storage that every Ray node sees at the same path. A cluster
``address`` (``HOST:PORT`` of its head, or ``ray://HOST:PORT``) is checked first: one that
does not answer within :data:`CONNECT_TIMEOUT_S` is a ConfigError at once, rather than
Ray's retries. Token authentication (Ray >= 2.52; ``RAY_AUTH_MODE=token`` on the head):
Ray sends its token only to a cluster it finds by itself, not to an explicit address unless
``RAY_AUTH_MODE=token`` is set in the driver too; so when this process has a token
(``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or Ray's default file ``~/.ray/auth_token``) and
``RAY_AUTH_MODE`` is unset, it is set to ``token`` before Ray is imported. A token sent to a
cluster without authentication is ignored; a cluster that refuses the connection (no token or
another one) is a ConfigError that says which variables to set.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
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
CONNECT_TIMEOUT_S = 3.0  # how long a Ray head's address may take to accept a connection
RAY_AUTH_MODE = "RAY_AUTH_MODE"  # Ray's switch for token authentication ("token")
RAY_TOKEN_SOURCES = ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")  # in Ray's order of precedence
RAY_DEFAULT_TOKEN_FILE = Path("~/.ray/auth_token")  # where Ray keeps a token otherwise


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


def check_ray_address(address: str, *, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise a ConfigError at once unless something accepts connections at ``address``
    (``HOST:PORT`` or ``ray://HOST:PORT``); ``auto`` and ``local`` are Ray's to resolve."""
    if address in ("auto", "local"):
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(
            f"Ray address {address!r} is not HOST:PORT; give the head node's address, e.g. "
            "--address 127.0.0.1:6379 (what `ray start --head` prints)"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as err:
        why = err.strerror or type(err).__name__
        raise ConfigError(
            f"no Ray cluster answers at {address} ({why} within {timeout:g} s); start its "
            "head there (`ray start --head --port PORT`) or give the address it printed"
        ) from None


def _ray_token_configured() -> bool:
    """Whether this process has a Ray authentication token (Ray's three sources)."""
    return any(os.environ.get(v) for v in RAY_TOKEN_SOURCES) or (
        RAY_DEFAULT_TOKEN_FILE.expanduser().is_file()
    )


def _connect_ray(address: str) -> Any:
    """Import Ray and connect this process to the cluster at ``address`` (see the module
    docstring for token authentication)."""
    check_ray_address(address)
    if RAY_AUTH_MODE not in os.environ and _ray_token_configured():
        # Ray reads the mode once, when it is imported: set it first
        os.environ[RAY_AUTH_MODE] = "token"
        log.info("a Ray token is configured: connecting with token authentication")
    ray = _import_ray()
    try:
        ray.init(address=address, log_to_driver=False)
    except ConnectionError as err:
        log.debug("ray.init(address=%r) failed: %s", address, err)
        raise ConfigError(
            f"Ray could not connect to the cluster at {address}, although something answers "
            f"there. If the cluster uses token authentication ({RAY_AUTH_MODE}=token on its "
            "head), give this process its token: RAY_AUTH_TOKEN=<token> (or "
            "RAY_AUTH_TOKEN_PATH=<file>), the token `ray get-auth-token` prints on the head; "
            "otherwise check that the address is the one `ray start --head` printed"
        ) from None
    return ray


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise ConfigError(
            "--runner ray needs the 'ray' package; install it with "
            "`pip install 'weightspace[ray]'` or use --runner local"
        ) from err
    return ray


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
    """Run each plan as a Ray task; connects to ``address`` or starts a local instance
    (unless this process is connected to Ray already)."""
    loaded = sys.modules.get("ray")  # not imported yet: its auth mode may still be set
    own = loaded is None or not loaded.is_initialized()
    if own and address:
        ray = _connect_ray(address)
    else:
        ray = _import_ray()
        if own:
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
