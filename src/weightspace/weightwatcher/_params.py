"""WeightWatcher 0.7.7's ``params`` dictionaries: ``valid_params``, ``normalize_params``.

WeightWatcher validates the options of every call as a dictionary (``DEFAULT_PARAMS`` with
some keys changed); scripts call these static methods directly. The same rules are kept
here, each on its own line, and return the same booleans. (Validating does not make an
option implemented: ``analyze`` still refuses the ones listed in ``_options.py``.)
"""

from __future__ import annotations

import logging
import numbers
from typing import Any

import numpy as np

from weightspace.weightwatcher import constants as c

log = logging.getLogger(__name__)

FITS = (c.PL, c.TPL, c.E_TPL, c.POWER_LAW, c.TRUNCATED_POWER_LAW)


def _problems(params: dict[str, Any]) -> list[str]:
    """Every rule of WeightWatcher's validation that ``params`` breaks."""
    bad: list[str] = []
    min_evals, max_evals = params[c.MIN_EVALS], params[c.MAX_EVALS]
    max_n = params[c.MAX_N]
    if min_evals and max_evals and min_evals >= max_evals:
        bad.append(f"min_evals {min_evals} >= max_evals {max_evals}")
    elif max_evals and max_evals < -1:
        bad.append(f"max_evals {max_evals} < -1")
    if max_n < max_evals:
        bad.append(f"max_N {max_n} < max_evals {max_evals}")
    if max_n < min_evals:
        bad.append(f"max_N {max_n} < min_evals {min_evals}")
    if params.get(c.SVD_METHOD) not in c.VALID_SVD_METHODS:
        bad.append(f"svd_method {params.get(c.SVD_METHOD)!r} not in {c.VALID_SVD_METHODS}")
    if params.get(c.WW2X):
        bad.append("ww2x is deprecated: use pool=False")
    if params.get(c.CONV2D_FFT) and (not params.get(c.POOL) or params.get(c.INTRA)):
        bad.append("conv2d_fft needs pool=True and intra=False")
    channels = params.get(c.CHANNELS_STR)
    if isinstance(channels, str) and channels.lower() not in (c.FIRST, c.LAST):
        bad.append(f"unknown channels {channels!r}")
    bad += _layer_problems(params.get(c.LAYERS))
    savefig = params.get(c.SAVEFIG)
    if not isinstance(savefig, str | bool):
        bad.append(f"savefig must be a bool or a directory name, got {savefig!r}")
    bad += _fit_problems(params)
    if params[c.INTRA] and (params[c.RANDOMIZE] or params[c.VECTORS]):
        bad.append("intra=True cannot go with randomize=True or vectors=True")
    if params[c.START_IDS] < 0:
        bad.append(f"start_ids must be >= 0, got {params[c.START_IDS]}")
    if params[c.INVERSE] and params[c.VECTORS]:
        bad.append("inverse=True cannot go with vectors=True")
    return bad


def _layer_problems(filters: Any) -> list[str]:
    if filters is None:
        return []
    if isinstance(filters, numbers.Integral):
        filters = [filters]
    elif isinstance(filters, np.ndarray):
        filters = filters.tolist()
    ids = [int(f) for f in filters if isinstance(f, numbers.Integral)]
    if ids and max(ids) > 0 and min(ids) < 0:
        return [f"layer ids must be all > 0 or all < 0, got {ids}"]
    return []


def _fit_problems(params: dict[str, Any]) -> list[str]:
    bad = []
    fingers, xmax, fit = params[c.FIX_FINGERS], params[c.XMAX], params[c.FIT]
    if fingers:
        if fingers not in (c.XMIN_PEAK, c.CLIP_XMAX):
            bad.append(f"unknown fix_fingers {fingers!r}")
        elif xmax is not None and xmax is not False and isinstance(xmax, int):
            bad.append(f"fix_fingers cannot go with an integer xmax={xmax}")
        max_fingers = params[c.MAX_FINGERS]
        if max_fingers is not None and max_fingers < 1:
            bad.append(f"max_fingers must be >= 1, got {max_fingers}")
    if fit not in FITS:
        bad.append(f"unknown fit {fit!r}")
    if fit == c.E_TPL and fingers == c.CLIP_XMAX:
        bad.append("fit='E_TPL' and fix_fingers='clip_xmax' cannot both be set")
    package = params[c.PL_PACKAGE]
    if package not in (c.POWERLAW_PACKAGE, c.WW_POWERLAW_PACKAGE):
        bad.append(f"unknown pl_package {package!r}")
    if not isinstance(xmax, int) and xmax not in (False, None, c.XMAX_FORCE):
        bad.append(f"xmax must be None, 'force' or an integer, got {xmax!r}")
    elif isinstance(xmax, int) and xmax == 0:
        bad.append("xmax cannot be 0")
    if package == c.WW_POWERLAW_PACKAGE:
        if xmax == c.XMAX_FORCE:
            bad.append("xmax='force' needs pl_package='powerlaw'")
        if fit not in (c.PL, c.POWER_LAW):
            bad.append(f"fit={fit!r} needs pl_package='powerlaw'")
    return bad


def valid_params(params: dict[str, Any]) -> bool:
    """True when ``params`` passes WeightWatcher 0.7.7's validation (problems are logged)."""
    bad = _problems(params)
    for problem in bad:
        log.warning("invalid params: %s", problem)
    if isinstance(params.get(c.SAVEFIG), str) and not isinstance(params.get(c.SAVEFIG), bool):
        params[c.SAVEDIR] = params[c.SAVEFIG]  # as WeightWatcher: savefig names the directory
    return not bad


def normalize_params(params: dict[str, Any]) -> dict[str, Any]:
    """WeightWatcher's aliases resolved in place: PL -> power_law, TPL/E_TPL ->
    truncated_power_law (E_TPL also sets fix_fingers='xmin_peak')."""
    fit = params[c.FIT]
    if fit == c.PL:
        params[c.FIT] = c.POWER_LAW
    elif fit in (c.TPL, c.E_TPL):
        params[c.FIT] = c.TRUNCATED_POWER_LAW
        if fit == c.E_TPL:
            params[c.FIX_FINGERS] = c.XMIN_PEAK
    return params


def layer_type_from_str(str_type: str) -> str:
    """A ``layer_type`` string as a ``LAYER_TYPE`` member (unknown strings: UNKNOWN)."""
    known = (c.LAYER_TYPE.NORM, c.LAYER_TYPE.DENSE, c.LAYER_TYPE.CONV2D, c.LAYER_TYPE.CONV1D)
    return str_type if str_type in known else c.LAYER_TYPE.UNKNOWN
