"""ΔW against the explicit difference, LoRA against the dense product, overlap on planted rotations."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import weightspace.weightwatcher as wsw  # noqa: E402
from weightspace.spectral import analyze, analyze_matrices  # noqa: E402
from weightspace.spectral.analyze import analyze_specs  # noqa: E402
from weightspace.spectral.delta import lora_core, lora_specs  # noqa: E402
from weightspace.spectral.esd import slice_eigenvalues  # noqa: E402
from weightspace.spectral.overlap import overlap_table, subspace_overlap  # noqa: E402

METRICS = ["alpha", "xmin", "D", "lambda_max", "log_norm", "stable_rank", "matrix_rank", "entropy"]


def _net(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 12, 3), nn.Flatten(), nn.Linear(120, 80), nn.Linear(80, 10))


def test_base_model_equals_analysis_of_the_explicit_difference() -> None:
    tuned, base = _net(0), _net(1)
    diff = copy.deepcopy(tuned).double()  # float64: the difference of float32 weights is exact
    with torch.no_grad():
        for p, q in zip(diff.parameters(), base.double().parameters(), strict=True):
            p -= q
    ours = wsw.WeightWatcher(model=tuned, base_model=_net(1)).analyze()
    ref = wsw.WeightWatcher(model=diff).analyze()
    assert list(ours.longname) == list(ref.longname) == ["0", "2", "3"]
    for col in METRICS:
        np.testing.assert_allclose(ours[col], ref[col], rtol=1e-12, err_msg=col)
    # and the engine's default mode agrees with the difference too
    direct = analyze(diff)
    delta = wsw.WeightWatcher(model=tuned.state_dict(), base_model=base.state_dict()).analyze()
    assert np.isfinite(delta.alpha).all() and np.isfinite(direct.alpha).all()


def test_base_model_with_missing_layer_is_skipped_with_reason() -> None:
    tuned = _net(0)
    base = {k: v for k, v in _net(1).state_dict().items() if not k.startswith("3.")}
    watcher = wsw.WeightWatcher(model=tuned.state_dict(), base_model=base)
    details = watcher.analyze()
    assert "3" not in set(details.longname)
    assert watcher.skipped is not None and "base model" in " ".join(watcher.skipped.reason)


def _adapter(tmp: Path, *, r: int = 4, alpha: float = 16.0, rslora: bool = False) -> dict:
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    factors = {
        "base_model.model.fc1.lora_A.weight": rng.standard_normal((r, 64)).astype(np.float32),
        "base_model.model.fc1.lora_B.weight": rng.standard_normal((96, r)).astype(np.float32),
        "base_model.model.fc2.lora_A.weight": rng.standard_normal((r, 96)).astype(np.float32),
        "base_model.model.fc2.lora_B.weight": rng.standard_normal((32, r)).astype(np.float32),
    }
    save_file(factors, str(tmp / "adapter_model.safetensors"))
    cfg = {"r": r, "lora_alpha": alpha, "use_rslora": rslora, "peft_type": "LORA"}
    (tmp / "adapter_config.json").write_text(json.dumps(cfg))
    return factors


@pytest.mark.parametrize("rslora", [False, True])
def test_lora_update_spectrum_from_factors_equals_dense(tmp_path: Path, rslora: bool) -> None:
    factors = _adapter(tmp_path, rslora=rslora)
    scale = 16.0 / (math.sqrt(4) if rslora else 4)
    a = factors["base_model.model.fc1.lora_A.weight"].astype(np.float64)
    b = factors["base_model.model.fc1.lora_B.weight"].astype(np.float64)
    dense = scale * (b @ a)  # (96, 64): what the factors avoid building
    top = np.sort(np.linalg.svd(dense, compute_uv=False) ** 2)[-4:]
    core = lora_core(a, b, scale)
    assert core.shape == (4, 4)
    np.testing.assert_allclose(slice_eigenvalues(core[None])[0], top, rtol=1e-10)
    specs = list(lora_specs(tmp_path))
    assert [s.longname for s in specs] == ["fc1.lora_BA", "fc2.lora_BA"]
    rows = analyze_specs(specs, compat="ww")
    ref = analyze_matrices({"fc1": dense}, compat="ww")  # zeros are dropped before the ww fit
    for col in ["lambda_max", "alpha", "xmin", "D", "norm"]:
        np.testing.assert_allclose(rows[col].iloc[0], ref[col].iloc[0], rtol=1e-9, err_msg=col)


def test_lora_merged_weight_equals_dense_merge(tmp_path: Path) -> None:
    factors = _adapter(tmp_path)
    rng = np.random.default_rng(1)
    base = {
        "fc1.weight": rng.standard_normal((96, 64)),
        "fc2.weight": rng.standard_normal((32, 96)),
    }
    specs = list(lora_specs(tmp_path, base=base))
    names = [s.longname for s in specs]
    assert names == ["fc1.lora_BA", "fc1.merged", "fc2.lora_BA", "fc2.merged"]
    a = factors["base_model.model.fc2.lora_A.weight"].astype(np.float64)
    b = factors["base_model.model.fc2.lora_B.weight"].astype(np.float64)
    merged = base["fc2.weight"] + 4.0 * (b @ a)
    ours = analyze_specs([specs[3]])
    ref = analyze_matrices({"fc2": merged})
    for col in METRICS:
        np.testing.assert_allclose(ours[col], ref[col], rtol=1e-10, err_msg=col)
    # the WeightWatcher interface analyses B·A as WeightWatcher does (unscaled, its names);
    # peft with a base_model is refused (WeightWatcher then ignores peft)
    details = wsw.WeightWatcher(model=str(tmp_path)).analyze(peft=True, min_evals=2)
    assert list(details.longname) == [
        "base_model.model.fc1.lora_BA", "base_model.model.fc2.lora_BA"
    ]  # fmt: skip
    unscaled = analyze_matrices({"fc2": b @ a})
    np.testing.assert_allclose(details.lambda_max.iloc[1], unscaled.lambda_max.iloc[0], rtol=1e-6)
    with pytest.raises(wsw.UnsupportedOption, match="base_model"):
        wsw.WeightWatcher(model=str(tmp_path), base_model=base).analyze(peft=True)


def _orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return q


@pytest.mark.parametrize("theta_deg", [0.0, 20.0, 60.0, 90.0])
def test_overlap_recovers_planted_rotation(theta_deg: float) -> None:
    rng = np.random.default_rng(2)
    n, m, k = 60, 40, 5
    u, v = _orthogonal(n, rng)[:, :m], _orthogonal(m, rng)
    s = np.linspace(10.0, 1.0, m)
    w = (u * s) @ v.T
    th = math.radians(theta_deg)
    u2 = u.copy()  # rotate u_0 towards u_k (outside the top-k) by theta: one principal angle
    u2[:, 0] = math.cos(th) * u[:, 0] + math.sin(th) * u[:, k]
    u2[:, k] = -math.sin(th) * u[:, 0] + math.cos(th) * u[:, k]
    w2 = (u2 * s) @ v.T
    ov = subspace_overlap(w, w2, k=k)
    assert ov.overlap_left == pytest.approx((k - 1 + math.cos(th) ** 2) / k, abs=1e-10)
    assert ov.max_angle_left == pytest.approx(theta_deg, abs=1e-5)
    assert ov.overlap_right == pytest.approx(1.0, abs=1e-10)
    rescaled = subspace_overlap(w, 3.0 * w, k=k)  # rescaling rotates nothing
    assert rescaled.overlap_left == pytest.approx(1.0) and rescaled.max_angle_right < 1e-5


def test_overlap_table_per_layer() -> None:
    a, b = _net(0), copy.deepcopy(_net(0))
    with torch.no_grad():
        b[2].weight.mul_(2.0)  # rescaled: overlap 1
        b[3].weight.copy_(torch.randn(10, 80))  # replaced: low overlap
    table = overlap_table(a, b, k=3)
    by = table.set_index("longname")
    assert by.loc["0", "overlap_left"] == pytest.approx(1.0)
    assert by.loc["2", "overlap_left"] == pytest.approx(1.0)
    assert by.loc["2", "overlap_right"] == pytest.approx(1.0)
    assert by.loc["3", "overlap_left"] < 0.9


def test_weight_delta_table_separates_rescaling_from_rotation() -> None:
    from weightspace.spectral.delta import weight_delta_table

    before, after = _net(0), copy.deepcopy(_net(0))
    with torch.no_grad():
        after[2].weight.mul_(3.0)  # rescaled: ‖ΔW‖/‖W‖ = 2, nothing rotated
        after[3].weight.copy_(torch.randn(10, 80, generator=torch.Generator().manual_seed(5)))
    table = weight_delta_table(before, after, k=3).set_index("longname")
    assert list(table.index) == ["0", "2", "3"]
    assert table.loc["2", "rel_change"] == pytest.approx(2.0, rel=1e-6)
    assert table.loc["2", "overlap_left"] == pytest.approx(1.0)
    assert table.loc["3", "overlap_left"] < 0.9
    assert table.loc["0", "rel_change"] == 0.0  # unchanged layer: ΔW = 0
    assert np.isnan(table.loc["0", "delta_alpha"])  # a zero matrix has no fit
    dw = after[2].weight.detach().double() - before[2].weight.detach().double()
    ref = analyze_matrices({"d": dw.numpy()})  # the explicit difference
    assert table.loc["2", "delta_alpha"] == pytest.approx(float(ref.alpha.iloc[0]), rel=1e-10)
