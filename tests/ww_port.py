"""Support for the port of WeightWatcher's own test suite (``tests/test_ww_port_*.py``).

Each ported test is a *body* ``body(ww, ...)`` that does what the original test does with
the module ``ww`` and returns what it observed (tables, arrays, numbers, which exception).
:func:`both` runs the body once with ``import weightwatcher`` (0.7.7, the oracle) and once
with ``import weightspace.weightwatcher``, on freshly built, identically seeded models, and
:func:`same` compares the observations: numbers to 1e-6 relative, the same dtypes, the same
ids and names, the same exceptions (weightspace's ``ConfigError`` where WeightWatcher raises
a bare ``Exception``: both are caught by ``except Exception``).

The original tests download pretrained weights (VGG11, ResNet-18, ALBERT-xxlarge, BERT);
offline, the same architectures get seeded random weights, narrower where the original is
large (same module tree, so the same layer ids). Assertions on numbers that only the
pretrained weights give became comparisons between the two imports.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
oracle = pytest.importorskip("weightwatcher")

import weightspace.weightwatcher as wsw  # noqa: E402

RTOL = 1e-6
# columns that depend on a random shuffle of W (unseeded in WeightWatcher): compared by
# dtype and finiteness only (a deliberate difference: weightspace seeds its shuffle)
RANDOM_COLUMNS = {
    "max_rand_eval", "rand_W_scale", "rand_bulk_max", "rand_bulk_min", "rand_distance",
    "rand_mp_softrank", "rand_num_spikes", "rand_sigma_mp", "ww_maxdist", "ww_softrank",
    "num_traps",
}  # fmt: skip
# a failed power-law fit: WeightWatcher's -1 (or ±inf from log10(0), "over-trained"), NaN and
# "" here, a deliberate difference compared only where a test passes ``failed_ok=True``
FAILED_FIT_COLUMNS = {
    "D", "alpha", "alpha_weighted", "log_alpha_norm", "log_norm", "log_spectral_norm",
    "num_pl_spikes", "sigma", "xmax", "xmin", "warning",
}  # fmt: skip


def quiet() -> None:
    logging.getLogger("weightwatcher").setLevel(logging.CRITICAL)
    warnings.simplefilter("ignore")


class Raised:
    """What a body observed when a call raised."""

    def __init__(self, err: BaseException) -> None:
        self.type = type(err)
        self.message = str(err)

    def __repr__(self) -> str:
        return f"Raised({self.type.__name__}: {self.message[:80]})"


def raises(call: Callable[[], Any]) -> Any:
    """``call()``'s result, or :class:`Raised` if it raised."""
    try:
        return call()
    except Exception as err:
        return Raised(err)


def both(body: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """Run ``body`` with each module (fresh ``args``: callables are called per run)."""
    quiet()
    seen = []
    for module in (oracle, wsw):
        fresh = [a() if callable(a) and not isinstance(a, type) else a for a in args]
        seen.append(body(module, *fresh, **kwargs))
    return seen[0], seen[1]


def check(
    body: Callable[..., Any],
    *args: Any,
    random_ok: bool = False,
    failed_ok: bool = False,
    empty_ok: bool = False,
    **kwargs: Any,
) -> Any:
    """:func:`both` then :func:`same`; returns weightspace's observation."""
    ref, ours = both(body, *args, **kwargs)
    same(ref, ours, random_ok=random_ok, failed_ok=failed_ok, empty_ok=empty_ok)
    return ours


def same(
    ref: Any,
    ours: Any,
    *,
    random_ok: bool = False,
    failed_ok: bool = False,
    empty_ok: bool = False,
    where: str = "",
) -> None:
    """Assert that the two observations agree (see the module docstring). Deliberate
    differences, each allowed only where a test asks: ``random_ok``, the shuffled-weight
    columns are compared in kind only; ``failed_ok``, rows of failed fits are NaN/"" here
    against WeightWatcher's -1/±inf/"over-trained"; ``empty_ok``, an empty table keeps its
    columns here (WeightWatcher's has none)."""
    kw = {"random_ok": random_ok, "failed_ok": failed_ok, "empty_ok": empty_ok}
    if isinstance(ref, Raised):
        assert isinstance(ours, Raised), f"{where}: WeightWatcher raised {ref}, got {ours!r}"
        assert issubclass(ours.type, ref.type), f"{where}: {ours} is not a {ref.type}"
        return
    assert not isinstance(ours, Raised), f"{where}: raised {ours} where WeightWatcher gave {ref!r}"
    if isinstance(ref, pd.DataFrame):
        _same_frame(ref, ours, where=where, **kw)
    elif isinstance(ref, dict):
        assert isinstance(ours, dict) and list(ours) == list(ref), f"{where}: keys"
        for k in ref:
            same(ref[k], ours[k], where=f"{where}[{k!r}]", **kw)
    elif isinstance(ref, list | tuple):
        assert isinstance(ours, list | tuple) and len(ours) == len(ref), f"{where}: length"
        for i, (a, b) in enumerate(zip(ref, ours, strict=True)):
            same(a, b, where=f"{where}[{i}]", **kw)
    elif isinstance(ref, np.ndarray):
        assert isinstance(ours, np.ndarray), f"{where}: {type(ours)}"
        assert ours.shape == ref.shape and ours.dtype.kind == ref.dtype.kind, where
        np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=1e-12, err_msg=where)
    elif isinstance(ref, bool | np.bool_ | str | type(None)):
        assert ours == ref, f"{where}: {ours!r} != {ref!r}"
    elif isinstance(ref, numbers_types()):
        assert isinstance(ours, numbers_types()), f"{where}: {type(ours)}"
        assert isinstance(ours, int | np.integer) == isinstance(ref, int | np.integer), where
        np.testing.assert_allclose(float(ours), float(ref), rtol=RTOL, atol=1e-12, err_msg=where)
    else:
        assert ours == ref, f"{where}: {ours!r} != {ref!r}"


def numbers_types() -> tuple[type, ...]:
    return (int, float, np.integer, np.floating)


def _failed_rows(ref: pd.DataFrame, ours: pd.DataFrame, where: str) -> pd.DataFrame:
    """Check the failed fits' columns (NaN / "" here); returns the frames without them."""
    failed = (ref["status"] == "failed").to_numpy()
    assert (ours["status"].to_numpy()[failed] == "failed").all(), f"{where}: status"
    for col in FAILED_FIT_COLUMNS & set(ref.columns):
        mine = ours[col].to_numpy()[failed]
        if col == "warning":
            assert (mine == "").all(), f"{where}.{col}"
        else:
            assert pd.isna(mine).all(), f"{where}.{col}: failed fit {mine!r} is not NaN"
    return failed


def _same_frame(
    ref: pd.DataFrame, ours: Any, *, random_ok: bool, failed_ok: bool, empty_ok: bool, where: str
) -> None:
    assert isinstance(ours, pd.DataFrame), f"{where}: {type(ours)}"
    if empty_ok and ref.shape == (0, 0):
        assert len(ours) == 0 and len(ours.columns) > 0, f"{where}: {ours.shape}"
        return
    assert list(ours.columns) == list(ref.columns), f"{where}: columns"
    assert len(ours) == len(ref), f"{where}: {len(ours)} rows, WeightWatcher {len(ref)}"
    if failed_ok and "status" in ref.columns and (ref["status"] == "failed").any():
        keep = ~_failed_rows(ref, ours, where)
        loose = FAILED_FIT_COLUMNS  # their dtype follows the failed rows (-1: int64)
        ref, ours = ref[keep], ours[keep]
    else:
        loose = set()
    for col in ref.columns:
        a, b = ref[col], ours[col]
        num = a.dtype.kind in "fiub"
        if col in loose and col != "warning":  # e.g. int64 -1 there, float64 here
            a, b = pd.to_numeric(a, errors="coerce").astype(float), b.astype(float)
            num = True
        if num:
            assert b.dtype == a.dtype, f"{where}.{col}: dtype {b.dtype} != {a.dtype}"
        else:
            assert b.dtype.kind not in "fiub", f"{where}.{col}: dtype {b.dtype}"
        if col in RANDOM_COLUMNS and random_ok:
            assert np.isfinite(b.to_numpy(dtype=float)).all(), f"{where}.{col}"
            continue
        if num:
            np.testing.assert_allclose(
                b.to_numpy(dtype=float), a.to_numpy(dtype=float), rtol=RTOL, atol=1e-12,
                equal_nan=True, err_msg=f"{where}.{col}",
            )  # fmt: skip
        else:
            assert [str(v) for v in b] == [str(v) for v in a], f"{where}.{col}"


# -- models: seeded random weights of the original tests' architectures ---------------------

VGG11_CFG = [8, "M", 16, "M", 32, 32, "M", 64, 64, "M", 64, 64, "M"]  # VGG11 / 8


class VGG(nn.Module):  # type: ignore[misc]
    """torchvision's VGG11 module tree (features / avgpool / classifier), 8× narrower,
    classifier 3136 → 512 → 512 → 100: the same 11 layers with the same ids (2, 5, 8, ...,
    25, 28, 31)."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[Any] = []
        c_in = 3
        for v in VGG11_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c_in, int(v), 3, padding=1), nn.ReLU(inplace=True)]
                c_in = int(v)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(64 * 49, 512), nn.ReLU(True), nn.Dropout(),
            nn.Linear(512, 512), nn.ReLU(True), nn.Dropout(), nn.Linear(512, 100),
        )  # fmt: skip


def vgg11(seed: int = 0) -> Any:
    torch.manual_seed(seed)
    return VGG()


def resnet18(seed: int = 0) -> Any:
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(seed)
    return tv.models.resnet18()


def albert(seed: int = 0) -> Any:
    """ALBERT with xxlarge-v2's module tree (one shared layer group), small widths."""
    tr = pytest.importorskip("transformers")
    torch.manual_seed(seed)
    cfg = tr.AlbertConfig(
        vocab_size=300, embedding_size=32, hidden_size=64, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=128, max_position_embeddings=64,
    )  # fmt: skip
    return tr.AlbertModel(cfg)


def bert(seed: int = 0) -> Any:
    tr = pytest.importorskip("transformers")
    torch.manual_seed(seed)
    cfg = tr.BertConfig(
        vocab_size=300, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=128, max_position_embeddings=64, num_labels=2,
    )  # fmt: skip
    return tr.BertForSequenceClassification(cfg)


def flat_files(state_dict: dict[str, Any], model_name: str, root: Any) -> str:
    """WeightWatcher's flat-file directory of ``state_dict`` (written by WeightWatcher's own
    ``extract_pytorch_bins``, as the original tests make it) under ``root``."""
    import os

    src = os.path.join(str(root), "src")
    os.makedirs(src, exist_ok=True)
    torch.save(state_dict, os.path.join(src, "pytorch_model.bin"))
    quiet()
    config = oracle.WeightWatcher.extract_pytorch_bins(
        model_dir=src, model_name=model_name, tmp_dir=str(root)
    )
    return str(config["weights_dir"])


# -- the VGG11 tests' inputs (Test_VGG11_Base, _PyStateDict, _WWFlatFile, _Alpha_w_*) --------
# (fixtures named ``flat_vgg``, ``vgg``, ``vgg2``; a test module imports the functions)

MODULE_IDS = {"first": 2, "second": 5, "third": 8, "fc1": 25, "fc2": 28, "fc3": 31}
STATE_DICT_IDS = {"first": 1, "second": 2, "third": 8, "fc1": 9, "fc2": 10, "fc3": 11}


def vgg_module() -> Any:
    return vgg11()


def vgg_state_dict() -> Any:
    return vgg11().state_dict()


FLAT_IDS = {k: v - 1 for k, v in STATE_DICT_IDS.items()}  # flat files count from 0
FIXTURES = {"module": (vgg_module, MODULE_IDS), "state_dict": (vgg_state_dict, STATE_DICT_IDS)}


@pytest.fixture(scope="module", name="flat_vgg")
def flat_vgg_fixture(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Test_VGG11_WWFlatFile's input: the VGG11 state dict extracted by WeightWatcher into
    its flat-file directory (ww_config.json + .npy files)."""
    return flat_files(vgg_state_dict(), "vgg11", tmp_path_factory.mktemp("flat"))


@pytest.fixture(params=["module", "state_dict", "flatfile"], name="vgg")
def vgg_fixture(request: pytest.FixtureRequest) -> tuple[Any, dict[str, int]]:
    """Test_VGG11_Base, Test_VGG11_PyStateDict and Test_VGG11_WWFlatFile's inputs."""
    if request.param == "flatfile":
        return request.getfixturevalue("flat_vgg"), FLAT_IDS
    return FIXTURES[request.param]


@pytest.fixture(params=list(FIXTURES), name="vgg2")
def vgg2_fixture(request: pytest.FixtureRequest) -> tuple[Any, dict[str, int]]:
    """The Alpha_w_* classes' inputs (torch module and state dict)."""
    return FIXTURES[request.param]


def vgg_input(vgg: tuple[Any, dict[str, int]]) -> Any:
    return vgg[0]() if callable(vgg[0]) else vgg[0]


def fc_layers(ids: dict[str, int]) -> list[int]:
    return [ids["fc1"], ids["fc2"], ids["fc3"]]
