"""ONNX round trip (initializers and Constant nodes), bf16/fp16 read exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import weightspace.weightwatcher as wsw  # noqa: E402
from weightspace.spectral import analyze, analyze_matrices  # noqa: E402

COLS = ["N", "M", "rf", "alpha", "xmin", "D", "lambda_max", "log_norm", "stable_rank"]


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Conv2d(16, 24, 3), nn.Flatten(),
        nn.Linear(24 * 4 * 4, 64), nn.Linear(64, 10),
    )  # fmt: skip


def test_onnx_export_round_trip_equals_the_state_dict(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    model = _net().eval()
    path = tmp_path / "net.onnx"
    torch.onnx.export(model, (torch.randn(1, 3, 8, 8),), str(path), dynamo=False)
    ours = analyze(path)
    ref = analyze(model.state_dict())
    assert list(ours.longname) == list(ref.longname) == ["0", "2", "4", "5"]
    for col in COLS:
        np.testing.assert_allclose(ours[col], ref[col], rtol=1e-12, err_msg=col)
    via_ww = wsw.WeightWatcher(model=str(path)).analyze()
    assert list(via_ww.layer_type) == ["conv2d", "conv2d", "dense", "dense"]


def test_onnx_constant_nodes_are_read(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = rng.standard_normal((32, 20)).astype(np.float32)
    const = helper.make_node(
        "Constant", [], ["proj.weight"], value=numpy_helper.from_array(w, "proj.weight")
    )
    matmul = helper.make_node("MatMul", ["x", "proj.weight"], ["y"])
    graph = helper.make_graph(
        [const, matmul], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 20])],
    )  # fmt: skip
    path = tmp_path / "const.onnx"
    onnx.save(helper.make_model(graph), str(path))
    ours = analyze(path)
    ref = analyze_matrices({"proj": w.astype(np.float64)})
    assert list(ours.longname) == ["proj"]
    for col in COLS:
        np.testing.assert_allclose(ours[col], ref[col], rtol=1e-12, err_msg=col)
    in_memory = wsw.WeightWatcher(model=onnx.load(str(path))).analyze()
    assert list(in_memory.name) == ["proj"]


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_weights_are_read_exactly(tmp_path: Path, dtype: str) -> None:
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(0)
    w = torch.randn(96, 40, generator=gen).to(getattr(torch, dtype))
    save_file({"fc.weight": w}, str(tmp_path / "w.safetensors"))
    exact = w.to(torch.float64).numpy()  # every bf16/fp16 value is exact in float64
    ours = analyze(tmp_path / "w.safetensors")
    ref = analyze_matrices({"fc": exact})
    for col in COLS:
        assert ours[col].iloc[0] == ref[col].iloc[0], col  # bit-identical, not just close
    in_memory = analyze({"fc.weight": w})
    assert in_memory.alpha.iloc[0] == ref.alpha.iloc[0]


def test_corrupt_onnx_file_is_a_checkpoint_error(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from weightspace.errors import CheckpointError

    (tmp_path / "w.onnx").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="as an ONNX model"):
        analyze(tmp_path / "w.onnx")
