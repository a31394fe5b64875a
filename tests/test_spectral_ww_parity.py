"""compat="ww" against weightwatcher==0.7.7 on small torch models (every deterministic column)."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

FIT_COLS = ["alpha", "xmin", "xmax", "D", "sigma", "num_pl_spikes"]
SHAPE_COLS = ["num_evals", "N", "M", "Q", "rf"]
NORM_COLS = [
    "lambda_max", "log_norm", "log_spectral_norm", "alpha_weighted", "log_alpha_norm",
    "stable_rank", "matrix_rank", "entropy", "rank_loss", "weak_rank_loss", "sv_max",
    "norm", "spectral_norm",
]  # fmt: skip
MP_COLS = ["num_spikes", "sigma_mp", "mp_softrank", "bulk_min", "bulk_max", "W_scale"]


def _heavy_tailed_(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Student-t weights (trained-like heavy tails) and one rank-deficient Linear."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim >= 2:
                g = torch.randn(p.shape, generator=gen)
                chi = torch.randn((*p.shape, 3), generator=gen).pow(2).mean(-1)
                p.copy_(0.05 * g / chi.sqrt())  # Student-t, 3 degrees of freedom
    return model


def _models() -> dict[str, torch.nn.Module]:
    nn = torch.nn
    torch.manual_seed(0)
    cnn = nn.Sequential(
        nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Conv2d(16, 48, 5), nn.Conv2d(48, 24, 1),
        nn.Flatten(), nn.Linear(300, 128), nn.Linear(128, 128), nn.Linear(128, 12),
        nn.Embedding(200, 64),
    )  # fmt: skip
    cnn = _heavy_tailed_(cnn, 1)
    with torch.no_grad():
        cnn[6].weight[:, 64:] = 0  # rank deficient: rank_loss, matrix_rank, entropy
    torch.manual_seed(1)
    mlp = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.Linear(256, 30))
    return {"cnn_heavy": cnn, "mlp_init": mlp}


@pytest.mark.oracle
@pytest.mark.parametrize(("name", "mp_fit"), [("cnn_heavy", False), ("mlp_init", True)])
def test_compat_matches_weightwatcher_0_7_7(name: str, mp_fit: bool) -> None:
    ww = pytest.importorskip("weightwatcher")
    assert ww.__version__ == "0.7.7"
    from weightspace.spectral import analyze

    logging.getLogger("weightwatcher").setLevel(logging.CRITICAL)
    model = _models()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ww.WeightWatcher(model=model).analyze(mp_fit=mp_fit)
    ours = analyze(model, compat="ww", mp_fit=mp_fit)
    done = ours[ours.status != "skipped"]
    assert list(done.longname) == list(ref.longname)  # same layers, same order
    assert list(done.layer_id) == list(ref.layer_id)
    assert (done.compat == "ww").all()
    assert list(done.status) == list(ref.status)
    assert list(done.warning) == list(ref.warning)
    for col in [*SHAPE_COLS, "num_pl_spikes", "matrix_rank", "rank_loss", "weak_rank_loss"]:
        np.testing.assert_array_equal(done[col].to_numpy(float), ref[col].to_numpy(float), col)
    for col in FIT_COLS + NORM_COLS + (MP_COLS if mp_fit else []):
        np.testing.assert_allclose(
            done[col].to_numpy(float), ref[col].to_numpy(float), rtol=1e-9, atol=0, err_msg=col
        )
