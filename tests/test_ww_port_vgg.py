"""WeightWatcher's ``Test_VGG11_Base``, its state-dict and flat-file variants
(``Test_VGG11_PyStateDict``, ``Test_VGG11_WWFlatFile``) and ``Test_VGG11_noModel`` ported: each
body runs with both imports (see ``tests/ww_port.py``); the fit options and the SVD
transforms are in ``tests/test_ww_port_vgg_fits.py``.

The pretrained VGG11 became an 8× narrower VGG11 with seeded random weights (same module
tree, same layer ids). Numbers the original pinned for the pretrained weights (alphas,
spectral norms, 819 = 0.2 · 4096 smoothed components) are compared between the two imports
instead; structural assertions (counts, ids, columns, N ≥ M, M · rf = num_evals) are kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import ww_port
from ww_port import (  # noqa: F401 - fixtures
    MODULE_IDS,
    STATE_DICT_IDS,
    Raised,
    check,
    fc_layers,
    flat_vgg_fixture,
    raises,
    vgg2_fixture,
    vgg_fixture,
    vgg_input,
)

pytestmark = pytest.mark.oracle

ANALYZE_COLUMNS = (
    "layer_id,name,D,M,N,alpha,alpha_weighted,has_esd,lambda_max,layer_type,log_alpha_norm,"
    "log_norm,log_spectral_norm,norm,num_evals,rank_loss,rf,sigma,spectral_norm,stable_rank,"
    "sv_max,sv_min,xmax,xmin,num_pl_spikes,weak_rank_loss"
).split(",")


# -- describe / analyze tables ------------------------------------------------------------


def test_print_watcher(vgg: Any) -> None:
    def body(ww: Any, model: Any, ids: Any) -> Any:
        watcher = ww.WeightWatcher(model=model)
        assert watcher.results is None
        return "Analysis done" in repr(watcher)

    assert check(body, vgg[0], vgg[1]) is True


def test_layer_ids(vgg: Any) -> None:
    def body(ww: Any, model: Any, ids: Any) -> Any:
        details = ww.WeightWatcher(model=model).describe()
        got = details.layer_id.to_numpy()
        assert [got[0], got[1], got[-3], got[-2], got[-1]] == [
            ids["first"], ids["second"], ids["fc1"], ids["fc2"], ids["fc3"]
        ]  # fmt: skip
        return details

    check(body, vgg[0], vgg[1])


def test_get_framework_layer(vgg: Any) -> None:
    def body(ww: Any, model: Any, ids: Any) -> Any:
        layer = ww.WeightWatcher(model=model).get_framework_layer(layer=ids["fc1"])
        return layer if isinstance(layer, str | dict) else type(layer).__name__

    check(body, vgg[0], vgg[1])


@pytest.mark.parametrize("how", ["constructor", "describe", "new_watcher"])
def test_basic_columns(vgg: Any, how: str) -> None:
    """test_basic_columns, _with_model, _with_new_watcher and test_basic_columns_no_model."""

    def body(ww: Any, model: Any, ids: Any) -> Any:
        if how == "constructor":
            details = ww.WeightWatcher(model=model).describe()
        elif how == "describe":
            details = ww.WeightWatcher(model=model).describe(model=model)
        else:
            details = ww.WeightWatcher().describe(model=model)
        for key in ["layer_id", "name", "M", "N", "Q", "longname"]:
            assert key in details.columns
        assert details.Q.iloc[0] == pytest.approx(details.N.iloc[0] / details.M.iloc[0])
        return details

    check(body, vgg[0], vgg[1])


@pytest.mark.parametrize("with_model", [False, True])
def test_analyze_columns(vgg: Any, with_model: bool) -> None:
    """test_analyze_columns, _with_model and test_analyze_columns_no_model."""

    def body(ww: Any, model: Any, ids: Any) -> Any:
        watcher = ww.WeightWatcher() if with_model else ww.WeightWatcher(model=model)
        kw = {"model": model} if with_model else {}
        details = watcher.analyze(layers=[ids["fc2"], ids["second"]], **kw)
        assert set(ANALYZE_COLUMNS) <= set(details.columns)
        return details

    check(body, vgg[0], vgg[1])


def test_mp_fit_columns(vgg: Any) -> None:
    def body(ww: Any, model: Any, ids: Any) -> Any:
        layers = [ids["second"], ids["fc3"]]
        details = ww.WeightWatcher(model=model).analyze(mp_fit=True, layers=layers)
        assert {"num_spikes", "sigma_mp", "mp_softrank"} <= set(details.columns)
        return details

    check(body, vgg[0], vgg[1])


def test_bad_params(vgg: Any) -> None:
    def body(ww: Any, model: Any, ids: Any) -> Any:
        watcher = ww.WeightWatcher(model=model)
        seen = [
            raises(lambda: watcher.describe(layers=[-1, 1])),
            raises(lambda: watcher.describe(pool=False, conv2d_fft=True)),
            raises(lambda: watcher.describe(intra=True, conv2d_fft=True)),
            raises(lambda: watcher.describe(min_evals=100, max_evals=10)),
            raises(lambda: watcher.describe(savefig=-1)),
        ]
        assert all(isinstance(s, Raised) for s in seen)
        return [*seen, watcher.describe(savefig=True), watcher.describe(savefig="tmpdir")]

    check(body, vgg[0], vgg[1])


@pytest.mark.parametrize(
    "kw",
    [
        {},  # test_describe_model, test_all_layer_types, test_N_ge_M, test_num_evals, ...
        {"pool": False, "min_evals": 1},  # test_model_layer_types_ww2x, _describe_model_ww2x
        {"min_evals": 30},  # test_min_matrix_shape
        {"max_evals": 300},  # test_max_matrix_shape (1000 for the full-width VGG11)
        {"max_N": 3000, "max_evals": 3000},  # test_max_N_too_small (scaled to this width)
        {"start_ids": 1},  # test_start_ids_1
        {"start_ids": 10},  # test_start_ids_10
    ],
    ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "defaults",
)
def test_describe(vgg: Any, kw: dict[str, Any]) -> None:
    def body(ww: Any, model: Any, ids: Any) -> Any:
        details = ww.WeightWatcher(model=model).describe(**kw)
        dense = details[details.layer_type == str(ww.LAYER_TYPE.DENSE)]
        conv = details[details.layer_type == str(ww.LAYER_TYPE.CONV2D)]
        assert (details.N >= details.M).all()
        if not kw:
            assert len(details) == 11 and len(dense) == 3 and len(conv) == 8
            assert (details.M * details.rf == details.num_evals).all()
            assert (details.rf.to_numpy()[0:8] == 9).all()
        if kw.get("pool") is False:
            assert len(dense) == 3 and len(conv) == 8 * 9 and len(details) == 75
        if "min_evals" in kw and kw.get("pool") is not False:
            assert (details.num_evals >= kw["min_evals"]).all()
        if "max_evals" in kw:
            assert (details.num_evals <= kw["max_evals"]).all()
        if "max_N" in kw:
            assert len(details) == 10  # fc1 (N = 3136) is left out
        return details

    check(body, vgg[0], vgg[1])


def test_start_ids_shift_every_id(vgg: Any) -> None:
    """test_start_ids_1/_10: ids + start_ids for modules; state dicts start at start_ids
    (at 1 when start_ids is 0 or 1), as WeightWatcher."""

    def body(ww: Any, model: Any, ids: Any) -> Any:
        watcher = ww.WeightWatcher(model=model)
        return [watcher.describe(start_ids=s).layer_id.tolist() for s in (0, 1, 10)]

    ids0, ids1, ids10 = check(body, vgg[0], vgg[1])
    if vgg[1] is STATE_DICT_IDS:
        assert ids1 == ids0 and ids10 == list(range(10, 21))
    else:  # modules and flat files: ids + start_ids
        assert ids1 == [i + 1 for i in ids0] and ids10 == [i + 10 for i in ids0]


@pytest.mark.parametrize(
    "layers",
    [
        ["DENSE"],  # test_filter_dense_layer_types
        ["CONV2D"],  # test_filter_conv2D_layer_types
        ["fc"],  # test_filter_layer_ids
        ["-fc"],  # test_negative_filter_layer_ids
        [],
    ],
)
def test_filters(vgg: Any, layers: list[str]) -> None:
    def body(ww: Any, model: Any, ids: Any) -> Any:
        resolved: list[Any] = []
        for item in layers:
            if item in ("DENSE", "CONV2D"):
                resolved.append(getattr(ww.LAYER_TYPE, item))
            elif item == "fc":
                resolved += fc_layers(ids)
            elif item == "-fc":
                resolved += [-x for x in fc_layers(ids)]
        details = ww.WeightWatcher(model=model).describe(layers=resolved)
        dense = details[details.layer_type == str(ww.LAYER_TYPE.DENSE)]
        if layers in (["DENSE"], ["fc"]):
            assert len(dense) == 3 and len(details) == 3 and (dense.N > 0).all()
        if layers == ["CONV2D"]:
            assert len(details) == 8 and (details.layer_type == "conv2d").all()
        if layers == ["-fc"]:
            assert len(dense) == 0
        return details

    check(body, vgg[0], vgg[1])


def test_dimensions(vgg: Any) -> None:
    def body(ww: Any, model: Any, ids: Any) -> Any:
        details = ww.WeightWatcher(model=model).describe(layers=[ids["first"]])
        row = details.iloc[0]
        assert (row.N, row.M, row.rf) == (8, 3, 9) and row.num_evals == row.M * row.rf
        return details

    check(body, vgg[0], vgg[1])


# -- analysis numbers -----------------------------------------------------------------------


def test_compute_spectral_norms(vgg: Any) -> None:
    def body(ww: Any, model: Any, ids: Any) -> Any:
        return ww.WeightWatcher(model=model).analyze(
            layers=[ids["second"]], pool=False, randomize=False, plot=False, mp_fit=False,
            svd_method=ww.ACCURATE_SVD,
        )  # fmt: skip

    details = check(body, vgg[0], vgg[1])
    assert len(details) == 9


def test_get_details_and_summary(vgg: Any) -> None:
    """test_get_details, test_get_summary, _with_model, test_get_summary_no_model."""

    def body(ww: Any, model: Any, ids: Any) -> Any:
        watcher = ww.WeightWatcher(model=model)
        assert len(watcher.describe(model=model)) == 11
        details = watcher.analyze(model=model, layers=[ids["second"]])
        assert len(watcher.get_details()) == len(details)
        returned = watcher.get_summary(details)
        assert returned == watcher.get_summary()
        return details, returned

    check(body, vgg[0], vgg[1])


def test_get_summary_with_new_model(vgg: Any) -> None:
    """A second (state-dict) model given to the same watcher; analyse its last layer by the
    numpy integer id taken from ``describe`` (VGG13 in the original; another seed here).

    Deliberate difference: WeightWatcher numbers a state dict from 1 when the watcher was
    built on a state dict and from 0 when it was built on a torch module or a directory (its
    ids depend on the watcher's history); weightspace always from 1."""

    def body(ww: Any, model: Any, ids: Any) -> Any:
        watcher = ww.WeightWatcher(model=model)
        new_model = ww_port.vgg11(seed=1).state_dict()
        description = watcher.describe(model=new_model)
        last = description.layer_id.to_numpy()[-1]
        assert isinstance(last, np.integer)
        details = watcher.analyze(model=new_model, layers=last)
        assert watcher.get_summary(details) == watcher.get_summary()
        return description, details

    ref, ours = ww_port.both(body, vgg[0], vgg[1])
    if vgg[1] is not STATE_DICT_IDS:
        for frame in ref:
            frame["layer_id"] += 1  # the one difference, checked here
    ww_port.same(ref, ours)


@pytest.mark.parametrize("with_model", [False, True])
def test_get_esd(vgg: Any, with_model: bool) -> None:
    """test_getESD, test_getESD_with_model, test_getESD_no_model, test_ESD_model_set."""

    def body(ww: Any, model: Any, ids: Any) -> Any:
        watcher = ww.WeightWatcher() if with_model else ww.WeightWatcher(model=model)
        kw = {"model": model} if with_model else {}
        esd = watcher.get_ESD(layer=ids["second"], **kw)
        assert len(esd) == 8 * 9  # M = 8 input channels, 3×3 kernel
        again = watcher.get_ESD(layer=ids["fc2"])
        return esd, again

    check(body, vgg[0], vgg[1])


def test_randomize_columns(vgg: Any) -> None:
    """test_randomize, test_randomize_no_model, test_rand_distance, test_ww_maxdist,
    test_ww_softrank: the randomized columns, compared in kind (the shuffle is random)."""

    def body(ww: Any, model: Any, ids: Any) -> Any:
        watcher = ww.WeightWatcher(model=model)
        plain = watcher.analyze(layers=[ids["fc2"]], randomize=False)
        assert not set(ww_port.RANDOM_COLUMNS) & set(plain.columns)
        rand = watcher.analyze(layers=[ids["fc3"]], randomize=True, mp_fit=True)
        return plain, rand

    _, rand = check(body, vgg[0], vgg[1], random_ok=True)
    assert 0 < rand.rand_distance.iloc[0] < 10


@pytest.mark.parametrize("randomize", [False, True])
def test_density_fit(vgg: Any, randomize: bool) -> None:
    """test_density_fit and _on_randomized_W: the MP fit of fc1, one row per slice."""

    def body(ww: Any, model: Any, ids: Any) -> Any:
        return ww.WeightWatcher(model=model).analyze(
            layers=[ids["fc1"]], pool=False, randomize=randomize, plot=False, mp_fit=True
        )

    details = check(body, vgg[0], vgg[1], random_ok=True)
    if randomize:  # a shuffled Gaussian matrix is MP: sigma near 1, few spikes
        assert details.rand_sigma_mp.iloc[0] == pytest.approx(1.0, abs=0.05)


@pytest.mark.slow
def test_randomize_mp_fits(vgg: Any) -> None:
    """All 11 layers on the torch module; on the state dict and the flat files (the same
    weights) on a conv, a dense and the last layer only: WeightWatcher's randomized MP fits
    take ~25 s per model here, weightspace's < 1 s."""
    layers = [] if vgg[1] is MODULE_IDS else [vgg[1]["second"], vgg[1]["fc2"], vgg[1]["fc3"]]

    def body(ww: Any, model: Any, ids: Any) -> Any:
        watcher = ww.WeightWatcher(model=model)
        return watcher.analyze(layers=layers, mp_fit=True, randomize=True, pool=True)

    details = check(body, vgg[0], vgg[1], random_ok=True)
    assert len(details) == (11 if not layers else 3)
    assert ((details.rand_sigma_mp < 1.10) & (details.rand_sigma_mp > 0.9)).all()


def test_max_evals_too_small(vgg: Any) -> None:
    def body(ww: Any, model: Any, ids: Any) -> Any:
        watcher = ww.WeightWatcher(model=model)
        one = watcher.analyze(max_evals=30)
        two = watcher.analyze(max_evals=30, max_N=31)
        assert len(one) == 1
        return one, two

    check(body, vgg[0], vgg[1])


def test_reset_params(vgg: Any) -> None:
    def body(ww: Any, model: Any, ids: Any) -> Any:
        watcher = ww.WeightWatcher(model=model)
        seen = []
        for fit, package, xmax in [
            (ww.PL, None, None), (ww.TPL, None, None), (ww.TPL, ww.POWERLAW_PACKAGE, "force")
        ]:  # fmt: skip
            params = dict(ww.DEFAULT_PARAMS)
            params["fit"] = fit
            if package:
                params[ww.PL_PACKAGE], params[ww.XMAX] = package, xmax
            valid = watcher.valid_params(params)
            seen.append((valid, watcher.normalize_params(params)["fit"] if valid else None))
        assert seen == [(True, "power_law"), (False, None), (True, "truncated_power_law")]
        return seen

    check(body, vgg[0], vgg[1])


def test_make_ww_iterator(vgg: Any) -> None:
    """test_make_ww_iterator: the iterator (min_evals=0) lists describe's 11 layers, same ids;
    test_max_N_too_small's iterator part: max_N leaves fc1 (N = 3136) out."""

    def body(ww: Any, model: Any, ids: Any) -> Any:
        watcher = ww.WeightWatcher(model=model)
        expected = watcher.describe().layer_id.tolist()
        params = dict(ww.DEFAULT_PARAMS)
        params[ww.MIN_EVALS] = 0
        got = [int(x.layer_id) for x in watcher.make_layer_iterator(model=model, params=params)]
        assert got == expected and len(got) == 11 and min(got) >= ids["first"]
        params = dict(ww.DEFAULT_PARAMS)
        params[ww.MAX_N] = params[ww.MAX_EVALS] = 3000
        small = watcher.make_layer_iterator(model=model, params=params)
        return got, [int(x.layer_id) for x in small if not x.skipped]

    _, small = check(body, vgg[0], vgg[1])
    assert len(small) == 10 and vgg[1]["fc1"] not in small


def test_stacked_iterator_is_refused(vgg: Any) -> None:
    """test_ww_stacked_layer_iterator: deliberate difference, params with stacked=True
    (experimental in WeightWatcher: one "Stacked Layer") raise UnsupportedOption."""
    model = vgg_input(vgg)
    params = dict(ww_port.oracle.DEFAULT_PARAMS, stacked=True)
    layers = list(ww_port.oracle.WeightWatcher(model=model).make_layer_iterator(params=params))
    assert len(layers) == 1 and layers[0].name == "Stacked Layer"
    with pytest.raises(ww_port.wsw.UnsupportedOption, match="stacked"):
        ww_port.wsw.WeightWatcher(model=model).make_layer_iterator(params=params)


def test_stacked_details_is_refused(vgg: Any) -> None:
    """test_ww_stacked_layer_details: ``stacked=True`` (experimental in WeightWatcher) is a
    deliberate difference: refused with UnsupportedOption, never silently ignored."""
    model = vgg_input(vgg)
    ref = ww_port.oracle.WeightWatcher(model=model).describe(stacked=True)
    assert len(ref) == 1 and ref.layer_type.iloc[0] == "stacked"
    with pytest.raises(ww_port.wsw.UnsupportedOption, match="stacked"):
        ww_port.wsw.WeightWatcher(model=model).describe(stacked=True)
