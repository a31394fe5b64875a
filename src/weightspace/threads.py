"""Explicit thread counts.

These machines have few cores shared with other work; torch's default (one thread per
core, plus inter-op threads) oversubscribes them. Every entry point calls
:func:`set_threads` with a configurable count (``--threads`` / ``WEIGHTSPACE_THREADS``).
"""

from __future__ import annotations

import logging
import os
import sys

from weightspace.errors import ConfigError

log = logging.getLogger(__name__)

ENV_VAR = "WEIGHTSPACE_THREADS"
_chosen: int | None = None  # the last count given to set_threads
_BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def default_threads() -> int:
    """``$WEIGHTSPACE_THREADS`` if set, else the number of usable cores (at least 1)."""
    env = os.environ.get(ENV_VAR)
    if env:
        try:
            n = int(env)
        except ValueError as err:
            raise ConfigError(
                f"{ENV_VAR}={env!r} is not an integer; set it to a thread count, e.g. 1 or 2"
            ) from err
        if n < 1:
            raise ConfigError(f"{ENV_VAR}={env!r} must be >= 1; set it to e.g. 1 or 2")
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def current_threads() -> int:
    """The count last given to :func:`set_threads`; else torch's intra-op count when torch
    is loaded; else :func:`default_threads` (the usable cores)."""
    if _chosen is not None:
        return _chosen
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else default_threads()


def set_threads(n: int | None = None) -> int:
    """Set torch intra-op threads and BLAS threads to ``n`` (default: :func:`default_threads`).

    Returns the count used. Safe to call more than once; the inter-op pool is sized only
    on the first call (torch forbids resizing it after parallel work started).
    """
    n = default_threads() if n is None else int(n)
    if n < 1:
        raise ConfigError(f"thread count must be >= 1, got {n}; pass e.g. --threads 1")
    # Libraries loaded later (SciPy's and scikit-learn's own BLAS/OpenMP copies) read these
    # at load time; threadpoolctl below limits the ones already loaded.
    for var in _BLAS_ENV:
        os.environ[var] = str(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:
        pass
    global _chosen
    _chosen = n
    # torch is not imported here (it alone adds ~0.7 GB to a process): when it is loaded
    # later it reads OMP_NUM_THREADS, set above; when it is loaded already, set it directly
    torch = sys.modules.get("torch")
    if torch is None:
        return n
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set, or parallel work already started
    log.debug("threads set to %d", n)
    return n
