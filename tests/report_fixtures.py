"""A small synthetic study directory for the report tests (no training, no spectral engine).

Layer metrics are drawn so that categories differ the way the paper found: weight decay
lowers log_norm much more than dropout or augmentation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import save_file

from weightspace.store import run_dir_name

CONDITIONS = {  # condition -> (category, strength)
    "bs": ("bs", 0.0),
    "divAuto": ("div", 1.0),
    "divNoize30": ("div", 0.03),
    "dp0.1": ("dp", 0.1),
    "dp0.5": ("dp", 0.5),
    "wd0.0001": ("wd", 1e-4),
    "wd0.001": ("wd", 1e-3),
    "gen0.5": ("gen", 0.5),
    "gen0.5_add": ("gen", 0.5),
    "gen0.9": ("gen", 0.9),
}
SHAPES = {"conv1": (8, 3, 3, 3), "layer1.conv": (16, 8, 3, 3), "fc": (10, 32)}
SHIFT = {"bs": 0.0, "div": -0.002, "dp": -0.004, "wd": -0.03, "gen": -0.001}


def _weights(rng: np.random.Generator, scale: float) -> dict[str, np.ndarray]:
    return {
        f"{name}.weight": (scale * rng.standard_normal(shape) / np.sqrt(shape[1])).astype(
            np.float32
        )
        for name, shape in SHAPES.items()
    }


def make_study(root: Path, *, seeds: tuple[int, ...] = (0, 1), gen: bool = True) -> Path:
    """Write runs.parquet, layers.parquet, weight_delta.parquet, diversity.parquet and run
    dirs with weights."""
    rng = np.random.default_rng(0)
    runs, layers, deltas = [], [], []
    for condition, (category, strength) in CONDITIONS.items():
        if category == "gen" and not gen:
            continue
        for seed in seeds:
            run_id = f"{condition}-s{seed}-abc"  # the layout of a real study, without run_dir
            run_dir = root / "runs" / run_dir_name(condition, seed, run_id)
            run_dir.mkdir(parents=True)
            init = _weights(np.random.default_rng(seed), 1.0)
            save_file(init, str(run_dir / "weights_init.safetensors"))
            after = {k: v * np.float32(1 + 10 * SHIFT[category]) for k, v in init.items()}
            save_file(after, str(run_dir / "weights.safetensors"))
            runs.append(
                {
                    "run_id": run_id,
                    "condition": condition,
                    "category": category,
                    "seed": seed,
                    "status": "ok",
                    "strength": strength,
                    "test_acc": 0.80 + 0.02 * rng.standard_normal() - SHIFT[category],
                    "test_ece": 0.05 + 0.01 * rng.random(),
                    "ood_acc": 0.60 + 0.02 * rng.standard_normal(),
                }
            )
            for layer_id, (name, shape) in enumerate(SHAPES.items(), start=1):
                n, m = max(shape[:2]), min(shape[:2])
                overlap = 0.98 + 2 * SHIFT[category] + 0.002 * rng.standard_normal(2)
                deltas.append({"run_id": run_id, "condition": condition, "category": category,
                               "seed": seed, "layer_id": layer_id, "longname": name,
                               "overlap_left": overlap[0], "overlap_right": overlap[1],
                               "max_angle_left": 10.0, "max_angle_right": 11.0,
                               "rel_change": 0.07 - SHIFT[category], "delta_stable_rank": 3.0})  # fmt: skip
                for snapshot in ("before", "after"):
                    moved = snapshot == "after"
                    shift = SHIFT[category] * (1 + layer_id) if moved else 0.0
                    noise = 0.001 * rng.standard_normal(4) if moved else np.zeros(4)
                    layers.append(
                        {
                            "run_id": run_id,
                            "condition": condition,
                            "category": category,
                            "seed": seed,
                            "snapshot": snapshot,
                            "layer_id": layer_id,
                            "name": "Linear" if len(shape) == 2 else "Conv2d",
                            "longname": name,
                            "alpha": 4.0 + (rng.standard_normal() if moved else 0.0),
                            "entropy": 0.9 + noise[0],
                            "log_norm": 1.0 + shift + noise[1],
                            "log_spectral_norm": 0.2 + shift / 2 + noise[2],
                            "stable_rank": 5.0 + noise[3],
                            "xmin": 0.5,
                            "sigma_mp": 1.0,
                            "Q": n / m,
                            "N": n,
                            "M": m,
                            "status": "success",
                        }
                    )
    pd.DataFrame(runs).to_parquet(root / "runs.parquet")
    pd.DataFrame(layers).to_parquet(root / "layers.parquet")
    pd.DataFrame(deltas).to_parquet(root / "weight_delta.parquet")
    div = (
        pd.DataFrame(runs)
        .groupby(["condition", "category", "strength"], as_index=False)["test_acc"]
        .mean()
    )
    div["vs_pixel"] = rng.uniform(5, 10, len(div))
    div["vs_emb"] = 3 + 20 * (div["test_acc"] - 0.75)
    div["rho"] = rng.uniform(0.8, 1.0, len(div))
    div["wvs"] = div["vs_emb"] * div["rho"]
    div.to_parquet(root / "diversity.parquet")
    return root


def make_main_job_like_study(root: Path) -> Path:
    """A simulated study with the main job's shape (10 augmentations, 4 dropout and 6 weight
    decay conditions × 3 seeds, a baseline with 6, 34 layers), a weight-delta table and the
    prediction check's correlations, compared and stored as the study command does."""
    from weightspace.compare import compare
    from weightspace.compare.prediction import EXPLORATORY_FAMILY, HEADLINE_FAMILY
    from weightspace.compare.result import save_to_study
    from weightspace.compare.simulate import Noise, StudyShape, Truth, simulate

    rng = np.random.default_rng(7)
    study = simulate(StudyShape(seeds=3, baseline_seeds=6), Truth(scenario="div_dp"), Noise(),
                     rng=rng)  # fmt: skip
    study.write(root)
    layers = pd.read_parquet(root / "layers.parquet")
    moved = layers[layers["snapshot"] == "after"][["run_id", "condition", "category", "seed",
                                                   "layer_id", "longname"]].copy()  # fmt: skip
    shift = moved["category"].map({"wd": -0.04}).fillna(0.0).to_numpy()
    moved["overlap_left"] = 0.98 + shift + 0.003 * rng.standard_normal(len(moved))
    moved["overlap_right"] = 0.98 + shift + 0.003 * rng.standard_normal(len(moved))
    moved["max_angle_left"] = moved["max_angle_right"] = 12.0
    moved["rel_change"] = 0.07 - shift + 0.002 * rng.standard_normal(len(moved))
    moved["delta_stable_rank"] = 3.0
    moved.to_parquet(root / "weight_delta.parquet")
    pd.DataFrame({
        "stratum": ["augmentation", "augmentation", "synthetic", "synthetic"],
        "score": ["vs_emb", "wvs", "vs_emb", "wvs"], "target": "acc_gain", "n": [11, 11, 1, 1],
        "spearman": [0.52, 0.61, np.nan, np.nan], "p": [0.10, 0.05, np.nan, np.nan],
        "spearman_lo": [-0.12, 0.02, np.nan, np.nan], "spearman_hi": [0.86, 0.89, np.nan, np.nan],
        "p_adj": [0.10, 0.10, np.nan, np.nan], "power": [0.35, 0.5, np.nan, np.nan],
        "family": [HEADLINE_FAMILY, HEADLINE_FAMILY, EXPLORATORY_FAMILY, EXPLORATORY_FAMILY],
    }).to_parquet(root / "diversity_correlations.parquet")  # fmt: skip
    results = {"default": compare(root, n_perm=200, n_boot=100, n_sims=20),
               "paper": compare(root, protocol="paper")}  # fmt: skip
    save_to_study(root, results)
    return root
