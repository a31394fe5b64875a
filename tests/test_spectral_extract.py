"""Matrix extraction from torch modules: slicing, splitting, naming, skipping, filtering."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from weightspace.errors import ConfigError
from weightspace.spectral.extract import iter_layers, to_slices


def _evals(slices: np.ndarray) -> np.ndarray:
    """Pooled eigenvalues of WᵀW over all slices, sorted."""
    w64 = np.asarray(slices, dtype=np.float64)  # loads of float32 weights are float32
    return np.sort(np.concatenate([np.linalg.eigvalsh(w.T @ w) for w in w64]))


def _by_longname(source: object, **kw: object) -> dict[str, object]:
    return {s.longname: s for s in iter_layers(source, **kw)}


# --- slicing ---------------------------------------------------------------------------------


def test_conv_slices_hand_built_known_eigenvalues() -> None:
    # Kernel position (i, j) holds c·[[1, 0], [0, 2], [0, 0]] with c = 1 + i·2 + j, so the
    # slice's WᵀW has eigenvalues c² and 4c², and slices come in row-major kernel order.
    w = np.zeros((3, 2, 2, 2))  # (out, in, kh, kw)
    for i in range(2):
        for j in range(2):
            c = 1 + 2 * i + j
            w[:, :, i, j] = c * np.array([[1, 0], [0, 2], [0, 0]])
    s = to_slices(w)
    assert s.shape == (4, 3, 2) and s.dtype == np.float64 and not np.shares_memory(s, w)
    for k in range(4):
        np.testing.assert_array_equal(s[k], w[:, :, k // 2, k % 2])
    expected = np.sort([v for c in (1, 2, 3, 4) for v in (c**2, 4 * c**2)])
    np.testing.assert_allclose(_evals(s), expected, rtol=1e-12)


def test_slices_transposed_so_n_ge_m() -> None:
    w = np.arange(24.0).reshape(2, 3, 4)  # (out=2, in=3, k=4): out < in
    s = to_slices(w)
    assert s.shape == (4, 3, 2)
    np.testing.assert_array_equal(s[1], w[:, :, 1].T)


def test_conv2d_module_pools_every_kernel_position() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(5, 7, (3, 2))
    (spec,) = iter_layers(conv)
    assert (spec.name, spec.layer_type, spec.conv_slices) == ("Conv2d", "conv2d", True)
    a = spec.load()
    w = conv.weight.detach().double().numpy()
    assert a.shape == (6, 7, 5)
    np.testing.assert_array_equal(a[3], w[:, :, 1, 1])  # position (1, 1) -> slice 1·2 + 1
    assert spec.extra["num_evals"] == 30 and spec.extra["kernel"] == (3, 2)


@pytest.mark.parametrize(
    ("conv", "shape"),
    [(nn.Conv1d(6, 9, 3), (3, 9, 6)), (nn.Conv3d(4, 8, (2, 3, 1)), (6, 8, 4))],
)
def test_conv1d_conv3d_sliced_per_kernel_position(conv: nn.Module, shape: tuple) -> None:
    (spec,) = iter_layers(conv, min_evals=0)
    a = spec.load()
    assert a.shape == shape and not spec.conv_slices  # WeightWatcher's √½ is for Conv2d only
    w = conv.weight.detach().double().numpy()
    np.testing.assert_array_equal(a[-1], w.reshape(w.shape[0], w.shape[1], -1)[:, :, -1])


def test_linear_is_transposed_when_wide() -> None:
    tall, wide = nn.Linear(10, 30), nn.Linear(30, 10)
    (t,) = iter_layers(tall)
    (w,) = iter_layers(wide)
    np.testing.assert_array_equal(t.load()[0], tall.weight.detach().double().numpy())
    np.testing.assert_array_equal(w.load()[0], wide.weight.detach().double().numpy().T)


def test_loaded_arrays_are_exact_float32_from_half_precision() -> None:
    lin = nn.Linear(16, 12).to(torch.bfloat16)
    (spec,) = iter_layers(lin)
    a = spec.load()
    assert a.dtype == np.float32  # exact; the Gram product widens it to float64 in blocks
    np.testing.assert_array_equal(a[0], lin.weight.float().detach().numpy().T.astype(np.float64))


# --- split layers ----------------------------------------------------------------------------


def test_multihead_attention_qkv_split_equals_slices() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.MultiheadAttention(12, 3))
    specs = _by_longname(model)
    fused = model[0].in_proj_weight.detach().double().numpy()
    for i, part in enumerate("qkv"):
        s = specs[f"0.{part}"]
        assert (s.layer_id, s.name, s.layer_type) == (1, "MultiheadAttention", "attention")
        np.testing.assert_array_equal(s.load()[0], fused[12 * i : 12 * (i + 1)])
    assert specs["0.out_proj"].layer_id == 2  # out_proj is its own Linear row
    assert list(specs) == ["0.q", "0.k", "0.v", "0.out_proj"]


def test_multihead_attention_separate_projections() -> None:
    mha = nn.MultiheadAttention(8, 2, kdim=5, vdim=6)
    specs = _by_longname(mha, min_evals=0)  # a root module's longname is its class name
    k = specs["MultiheadAttention.k"].load()[0]
    np.testing.assert_array_equal(k, mha.k_proj_weight.detach().double().numpy())  # (8, 5)
    assert specs["MultiheadAttention.v"].load().shape == (1, 8, 6)


def test_lstm_gates_split_in_torch_order() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.LSTM(10, 9, num_layers=2, bidirectional=True))
    specs = _by_longname(model)
    w = model[0].weight_hh_l1_reverse.detach().double().numpy()  # (4H, H), gates i, f, g, o
    for i, gate in enumerate("ifgo"):
        s = specs[f"0.weight_hh_l1_reverse.{gate}"]
        assert (s.name, s.layer_type, s.extra["part"]) == ("LSTM", "rnn", gate)
        np.testing.assert_array_equal(s.load()[0], w[9 * i : 9 * (i + 1)])
    assert len(specs) == 2 * 2 * 2 * 4  # layers x directions x (ih, hh) x gates


def test_gru_and_rnn_gates() -> None:
    gru, rnn = nn.GRU(10, 8), nn.RNN(10, 8)
    g = _by_longname(gru)
    w = gru.weight_ih_l0.detach().double().numpy()
    np.testing.assert_array_equal(g["GRU.weight_ih_l0.z"].load()[0], w[8:16].T)  # (8,10) -> (10,8)
    assert set(g) == {f"GRU.weight_{k}_l0.{x}" for k in ("ih", "hh") for x in "rzn"}
    assert set(_by_longname(rnn)) == {"RNN.weight_ih_l0", "RNN.weight_hh_l0"}


def test_lstm_projection_is_one_matrix() -> None:
    lstm = nn.LSTM(10, 12, proj_size=9)
    specs = _by_longname(lstm)
    assert specs["LSTM.weight_hr_l0"].load().shape == (1, 12, 9)
    assert specs["LSTM.weight_hh_l0.f"].load().shape == (1, 12, 9)


def test_gpt2_conv1d_detected_by_class_name() -> None:
    class Conv1D(nn.Module):  # Hugging Face's GPT-2 layer: weight stored (in, out)
        def __init__(self, nf: int, nx: int) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.randn(nx, nf))
            self.bias = nn.Parameter(torch.zeros(nf))

    layer = Conv1D(nf=30, nx=10)
    (spec,) = iter_layers(nn.Sequential(layer))
    assert (spec.name, spec.layer_type, spec.longname) == ("Conv1D", "linear", "0")
    np.testing.assert_array_equal(spec.load()[0], layer.weight.detach().double().numpy().T)


# --- rows, skips, filters --------------------------------------------------------------------


class _Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(40, 16)
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)
        self.fc1 = nn.Linear(16, 32)
        self.head = nn.Linear(32, 4)
        self.bil = nn.Bilinear(4, 5, 6)


def test_rows_ids_names_and_skips() -> None:
    rows = [(s.layer_id, s.name, s.longname, s.status, s.reason) for s in iter_layers(_Small())]
    assert rows == [
        (1, "Embedding", "emb", "pending", ""),
        (2, "Conv2d", "conv", "pending", ""),  # 9 slices x min(3, 8) = 27 eigenvalues
        (4, "Linear", "fc1", "pending", ""),
        (5, "Linear", "head", "skipped", "num_evals 4 < min_evals 8"),
        (6, "Bilinear", "bil.weight", "skipped",
         "parameter 'weight' (6, 4, 5) of unsupported module type Bilinear"),
    ]  # fmt: skip
    skipped = [s for s in iter_layers(_Small()) if s.status == "skipped"]
    assert all(s.load is None for s in skipped)
    head = next(s for s in iter_layers(_Small(), min_evals=4) if s.longname == "head")
    assert head.status == "pending" and head.load is not None


def test_parametrized_weight_is_one_row() -> None:
    from torch.nn.utils.parametrizations import weight_norm

    lin = weight_norm(nn.Linear(12, 20))
    (spec,) = iter_layers(nn.Sequential(lin))
    assert spec.longname == "0" and spec.layer_type == "linear"
    np.testing.assert_allclose(spec.load()[0], lin.weight.detach().double().numpy(), rtol=1e-6)


def test_layer_filters() -> None:
    model = _Small()
    assert [s.longname for s in iter_layers(model, layers=[2, "fc*"])] == ["conv", "fc1"]
    assert [s.longname for s in iter_layers(model, layers="Linear")] == ["fc1", "head"]
    assert [s.layer_id for s in iter_layers(model, layers=1)] == [1]
    attn = nn.Sequential(nn.MultiheadAttention(8, 2))
    assert [s.longname for s in iter_layers(attn, layers="0")] == ["0.q", "0.k", "0.v"]
    with pytest.raises(ConfigError, match="matches no layer"):
        list(iter_layers(model, layers=["nope"]))


def test_compat_ww_skips_what_weightwatcher_skips() -> None:
    emb = nn.Sequential(nn.Embedding(50_001, 8))
    (default,) = iter_layers(emb)
    (compat,) = iter_layers(emb, compat="ww")
    assert default.status == "pending"
    assert compat.status == "skipped" and "max_N" in compat.reason


def test_compat_ww_skips_layer_types_weightwatcher_does_not_analyse() -> None:
    model = nn.Sequential(nn.MultiheadAttention(16, 2), nn.LSTM(16, 12), nn.Conv3d(4, 8, 3))
    default = {s.longname: s.status for s in iter_layers(model)}
    compat = {s.longname: s for s in iter_layers(model, compat="ww")}
    assert set(default.values()) == {"pending"}
    assert [k for k, s in compat.items() if s.status == "pending"] == ["0.out_proj"]
    assert "does not analyse fused attention" in compat["0.q"].reason
    assert "does not analyse RNN" in compat["1.weight_hh_l0.f"].reason
    assert "does not analyse Conv3d" in compat["2"].reason


def test_nan_weights_pass_through() -> None:
    lin = nn.Linear(8, 8)
    with torch.no_grad():
        lin.weight[0, 0] = float("nan")
    (spec,) = iter_layers(lin)
    assert np.isnan(spec.load()).sum() == 1


def test_meta_weights_are_skipped_with_reason() -> None:
    with torch.device("meta"):
        lin = nn.Linear(16, 16)
    (spec,) = iter_layers(lin)
    assert spec.status == "skipped" and "meta" in spec.reason


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="compat"):
        list(iter_layers(nn.Linear(8, 8), compat="weightwatcher"))
    with pytest.raises(ConfigError, match="min_evals"):
        list(iter_layers(nn.Linear(8, 8), min_evals=-1))
    with pytest.raises(ConfigError, match="cannot analyse an object of type list"):
        list(iter_layers([1, 2]))


def test_loaded_array_is_a_copy_even_for_float64_weights() -> None:
    lin = nn.Linear(8, 16).double()
    (spec,) = iter_layers(lin)
    a = spec.load()
    a *= 0.0  # the caller owns the array: scaling it in place must not touch the model
    assert lin.weight.abs().sum() > 0


def test_loading_is_deferred() -> None:
    lin = nn.Linear(8, 8)
    (spec,) = iter_layers(lin)
    with torch.no_grad():
        lin.weight.zero_()  # loads see the weights at load time, not at enumeration
    assert not spec.load().any()


# --- WeightWatcher 0.7.7 parity --------------------------------------------------------------


def _ww_rows(model: nn.Module) -> list[tuple[int, str, int, int, int]]:
    ww = pytest.importorskip("weightwatcher")
    df = ww.WeightWatcher(model=model).describe()
    return [(int(r.layer_id), r.longname, int(r.N), int(r.M), int(r.rf)) for r in df.itertuples()]


def _our_rows(model: nn.Module) -> list[tuple[int, str, int, int, int]]:
    out = []
    for s in iter_layers(model, compat="ww"):
        if s.status == "pending":
            a = s.load()
            out.append((s.layer_id, s.longname, a.shape[1], a.shape[2], a.shape[0]))
    return out


@pytest.mark.oracle
def test_mlp_rows_match_weightwatcher() -> None:
    torch.manual_seed(0)
    mlp = nn.Sequential(
        nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 48), nn.BatchNorm1d(48), nn.Linear(48, 5)
    )
    assert _our_rows(mlp) == _ww_rows(mlp)  # the 48->5 head is below min_evals in both
    bare = nn.Linear(20, 30)
    assert _our_rows(bare) == _ww_rows(bare) == [(0, "Linear", 30, 20, 1)]


@pytest.mark.oracle
def test_compat_rows_match_weightwatcher_on_mixed_layer_types() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.EmbeddingBag(40, 10),
        nn.MultiheadAttention(16, 2),
        nn.LSTM(16, 12),
        nn.Conv3d(4, 8, 3),
        nn.ConvTranspose2d(8, 16, 3),
        nn.LayerNorm(16),
        nn.Conv2d(12, 20, 1),
        nn.Conv1d(16, 12, 3),  # WeightWatcher: M = min(12, 16, 3) = 3 < 8, skipped
    )
    assert _our_rows(model) == _ww_rows(model)  # EmbeddingBag, out_proj, the 1x1 Conv2d
    conv1d = [s for s in iter_layers(model, compat="ww") if s.longname == "7"]
    assert conv1d[0].status == "skipped" and "min(12, 16, 3) = 3" in conv1d[0].reason


@pytest.mark.oracle
def test_resnet18_rows_match_weightwatcher() -> None:
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = tv.models.resnet18(num_classes=10)
    ours = _our_rows(model)
    assert ours == _ww_rows(model)
    assert ours[0][:2] == (1, "conv1") and ours[1][:2] == (7, "layer1.0.conv1")
    assert ours[-1][:2] == (67, "fc")
    names = {s.longname: s.name for s in iter_layers(model)}
    assert names["fc"] == "Linear" and names["layer4.1.conv2"] == "Conv2d"


@pytest.mark.oracle
def test_conv_slices_equal_weightwatcher_matrices() -> None:
    ww = pytest.importorskip("weightwatcher")
    from weightwatcher.constants import DEFAULT_PARAMS, MIN_EVALS
    from weightwatcher.weightwatcher import WWLayerIterator

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(6, 10, 3), nn.Conv2d(10, 4, 2), nn.Linear(9, 30))
    watcher = ww.WeightWatcher(model=model)
    params = {**DEFAULT_PARAMS, MIN_EVALS: 0}  # keep every layer
    theirs = {
        layer.longname: np.stack([np.asarray(w, dtype=np.float64) for w in layer.Wmats])
        for layer in WWLayerIterator(model, framework=watcher.framework, params=params)
    }
    for spec in iter_layers(model, min_evals=0):
        np.testing.assert_allclose(_evals(spec.load()), _evals(theirs[spec.longname]), rtol=1e-6)


@given(
    out=st.integers(1, 7),
    inp=st.integers(1, 7),
    kernel=st.lists(st.integers(1, 3), min_size=0, max_size=3),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=60, deadline=None)
def test_slices_preserve_entries_and_frobenius_norm(
    out: int, inp: int, kernel: list[int], seed: int
) -> None:
    w = np.random.default_rng(seed).standard_normal((out, inp, *kernel))
    s = to_slices(w)
    k = int(np.prod(kernel)) if kernel else 1
    assert s.shape == (k, max(out, inp), min(out, inp))
    # pooled eigenvalues of the slices' Gram matrices sum to ||W||_F²
    np.testing.assert_allclose(_evals(s).sum(), (w**2).sum(), rtol=1e-10)
    np.testing.assert_array_equal(np.sort(s.ravel()), np.sort(w.ravel()))
