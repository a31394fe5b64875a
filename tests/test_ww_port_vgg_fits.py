"""WeightWatcher's ``Test_VGG11_Alpha_w_PowerLawFit``, ``Test_VGG11_Alpha_w_WWFit`` (and its
state-dict variant) and the SVD smoothing / sharpness tests of ``Test_VGG11_Base`` ported
(see ``tests/ww_port.py`` and ``tests/test_ww_port_vgg.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import ww_port
from ww_port import (  # noqa: F401 - fixtures
    MODULE_IDS,
    check,
    flat_vgg_fixture,
    vgg2_fixture,
    vgg_fixture,
    vgg_input,
    vgg_module,
)

pytestmark = pytest.mark.oracle


# -- the fit options (Test_VGG11_Alpha_w_PowerLawFit / _w_WWFit) ----------------------------


@pytest.mark.parametrize(
    "kw",
    [
        {"pool": False, "pl_package": "ww"},  # Alpha_w_WWFit.test_compute_alphas
        {"pool": False, "pl_package": "powerlaw"},  # Alpha_w_PowerLawFit.test_compute_alphas
        {"fix_fingers": "clip_xmax", "pl_package": "ww"},  # test_fix_fingers_clip_xmax
        {"fix_fingers": "clip_xmax", "pl_package": "powerlaw"},  # _clip_xmax_None
        {"fix_fingers": "xmin_peak", "xmin_max": 1.0, "pl_package": "powerlaw"},
    ],
    ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()),
)
@pytest.mark.slow
def test_alpha_fits(vgg2: Any, kw: dict[str, Any]) -> None:
    def body(ww: Any, model: Any, ids: Any) -> Any:
        return ww.WeightWatcher(model=model).analyze(layers=[ids["second"]], **kw)

    ref, ours = ww_port.both(body, vgg2[0], vgg2[1])
    if kw["pl_package"] == "powerlaw":
        # deliberate difference: the powerlaw package reports no xmax (None in an object
        # column); weightspace gives NaN in a float column
        assert ref.xmax.isna().all() and ours.xmax.isna().all() and ours.xmax.dtype == float
        ref, ours = ref.drop(columns="xmax"), ours.drop(columns="xmax")
    ww_port.same(ref, ours)


def test_xmax_force_is_refused(vgg: Any) -> None:
    """``xmax='force'`` (the original's TPL/fingers tests use it) is a deliberate difference:
    refused with UnsupportedOption."""
    model = vgg_input(vgg)
    ref = ww_port.oracle.WeightWatcher(model=model).analyze(
        layers=[vgg[1]["first"]], xmax="force", pl_package="powerlaw"
    )
    assert len(ref) == 1
    with pytest.raises(ww_port.wsw.UnsupportedOption, match="xmax"):
        ww_port.wsw.WeightWatcher(model=model).analyze(xmax="force", pl_package="powerlaw")


@pytest.mark.slow
def test_tpl_fits() -> None:
    """test_truncated_power_law_fit / test_extended_truncated_power_law_fit (without
    xmax='force'), on the torch module as the original class. On fc3 (100 eigenvalues)
    instead of fc2/fc1 (512): the powerlaw package's mpmath TPL takes ~100 s per 512-eigenvalue
    layer (both were checked once: identical). xmax: NaN here, None in WeightWatcher
    (deliberate difference, as in test_alpha_fits)."""

    def body(ww: Any, model: Any, ids: Any) -> Any:
        watcher = ww.WeightWatcher(model=model)
        tpl = watcher.analyze(layers=[ids["fc3"]], fit=ww.TPL, pl_package=ww.POWERLAW_PACKAGE)
        etpl = watcher.analyze(layers=[ids["fc3"]], fit=ww.E_TPL, pl_package=ww.POWERLAW_PACKAGE)
        assert (tpl.Lambda > -1).all() and (etpl.Lambda > -1).all()
        return tpl, etpl

    ref, ours = ww_port.both(body, vgg_module, MODULE_IDS)
    for r, o in zip(ref, ours, strict=True):
        assert r.xmax.isna().all() and o.xmax.isna().all() and o.xmax.dtype == float
    ww_port.same([r.drop(columns="xmax") for r in ref], [o.drop(columns="xmax") for o in ours])


# -- SVDSmoothing / SVDSharpness ------------------------------------------------------------


@pytest.mark.parametrize(
    "how",
    [
        {"method": "svd", "percent": 0.2},  # test_svd_smoothing, _alt2
        {"method": "svd", "percent": -0.2},  # test_svd_smoothing_alt
        {"method": "svd", "percent": 0.2, "with_model": True},  # _with_model, _no_model
        {},  # the default method (detX): test_svd_smoothing_no_model
    ],
    ids=["keep", "drop", "with_model", "detX"],
)
def test_svd_smoothing(vgg2: Any, how: dict[str, Any]) -> None:
    """The smoothed layer keeps (or loses) the same number of components as in
    WeightWatcher. Deliberate difference: weightspace's truncated SVD is exact (the kept
    eigenvalues are the layer's own, checked), WeightWatcher's is scikit-learn's randomized
    one (within a few % on these flat random spectra)."""
    kw = dict(how)
    with_model = kw.pop("with_model", False)

    def body(ww: Any, model: Any, ids: Any) -> Any:
        watcher = ww.WeightWatcher() if with_model else ww.WeightWatcher(model=model)
        extra = {"model": model} if with_model else {}
        names = ("fc2", "second", "fc1")
        before = [ww.WeightWatcher(model=model).get_ESD(layer=ids[k]) for k in names]
        out = watcher.SVDSmoothing(layers=[ids["fc2"], ids["second"]], **kw, **extra)
        assert out is watcher.model
        return before, [watcher.get_ESD(layer=ids[k]) for k in names]

    (_, ref), (before, ours) = ww_port.both(body, vgg2[0], vgg2[1])
    for a, b in zip(ref, ours, strict=True):
        kept = b[b > 1e-10]
        assert len(kept) == (a > 1e-10).sum()
        np.testing.assert_allclose(kept, a[a > 1e-10], rtol=0.1)
    np.testing.assert_allclose(ours[2], before[2], rtol=1e-12)  # fc1 untouched
    if how.get("percent", 0) > 0:  # the top k of the layer's own eigenvalues
        kept = ours[0][ours[0] > 1e-10]
        np.testing.assert_allclose(kept, before[0][-len(kept) :], rtol=1e-8)
    if how.get("percent") == 0.2:
        assert (ours[0] > 1e-10).sum() == int(0.2 * 512)


def test_svd_sharpness(vgg2: Any) -> None:
    """test_svd_sharpness, _with_model, test_svd_sharpness2: the sharpened model's ESD is
    no larger than before, layers left out are untouched, and the return value is the
    ``model`` argument (None when the watcher holds the model), as in WeightWatcher. The
    number of removed spikes depends on a random shuffle (unseeded in WeightWatcher)."""

    def body(ww: Any, model: Any, ids: Any) -> Any:
        watcher = ww.WeightWatcher(model=model)
        before = {k: watcher.get_ESD(layer=ids[k]) for k in ("fc2", "third", "fc1")}
        out = watcher.SVDSharpness(layers=[ids["fc2"], ids["third"]])
        after = {k: watcher.get_ESD(layer=ids[k]) for k in before}
        assert all(after[k].max() <= before[k].max() * (1 + 1e-6) for k in before)
        return out is None, after["fc1"]

    check(body, vgg2[0], vgg2[1])
