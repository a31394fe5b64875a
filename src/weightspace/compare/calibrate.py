"""Calibration of the default protocol on simulated studies with known truth.

Each simulated study has the design of the published ones (10 data-diversity, 4 dropout and
6 weight-decay conditions by default), several seeds, and the layer count of a preset
(:data:`PRESET_LAYERS`). Scenarios (:data:`SCENARIOS`):

``null``      no condition has any effect — every rejection is a false positive;
``div_null``  dropout and weight decay carry their planted per-layer signatures, the
              data-diversity conditions have no effect (the fingerprint's hard case);
``div_dp``    data diversity carries dropout's signature with dropout-like strengths (div–dp
              tests are under their null, div–wd tests and the fingerprint have power);
``div_wd``    the same with weight decay's signature.

For every verdict and interval the conclusions print, :func:`calibrate` returns how often it
fires: under a true null that is the false-positive rate (target ≤ 5%), under a planted
effect the power. Run ``python bench/calibration.py`` for the table in docs/compare.md.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from weightspace.compare._synthetic import SyntheticStudy, synthetic_tables
from weightspace.compare.default import category_tests, condition_layers, condition_scores
from weightspace.compare.delta import delta_delta, delta_table
from weightspace.compare.fingerprint import fingerprint_table
from weightspace.compare.multiplicity import adjust_tables
from weightspace.compare.uncertainty import category_mean_intervals, run_scores
from weightspace.errors import ConfigError

log = logging.getLogger(__name__)

PRESET_LAYERS = {"scratch-cnn": 4, "efficientnet-lite0": 34, "bert-6layer": 37}
SCENARIOS = ("null", "div_null", "div_dp", "div_wd")
DP_STRENGTHS = (0.1, 0.3, 0.5, 0.7)
WD_STRENGTHS = (1e-05, 5e-05, 0.0001, 0.0005, 0.001, 0.005)


@dataclass(frozen=True)
class CalibrationConfig:
    """One cell of the calibration table."""

    scenario: str = "null"
    n_layers: int = 4
    seeds: int = 3
    n_div: int = 10
    noise: float = 0.03
    effect: tuple[float, float] = (0.05, 0.2)  # planted effect sizes, low to high
    n_perm: int = 500

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ConfigError(
                f"scenario {self.scenario!r} is not one of {', '.join(SCENARIOS)}; pick one"
            )
        if self.seeds < 1 or self.n_layers < 2 or self.n_div < 2:
            raise ConfigError(
                f"need seeds ≥ 1, n_layers ≥ 2, n_div ≥ 2; got {self.seeds}, "
                f"{self.n_layers}, {self.n_div}"
            )


def _spec(config: CalibrationConfig, rng: np.random.Generator) -> SyntheticStudy:
    low, high = config.effect
    planted = config.scenario != "null"
    dp = {
        f"dp{s}": float(np.linspace(low, high, 4)[i]) * planted for i, s in enumerate(DP_STRENGTHS)
    }
    wd = {
        f"wd{s}": float(np.linspace(low, high, 6)[i]) * planted for i, s in enumerate(WD_STRENGTHS)
    }
    div_effects = (
        rng.uniform(low, high, config.n_div)
        if config.scenario in ("div_dp", "div_wd")
        else np.zeros(config.n_div)
    )
    div = {f"div{i}": float(e) for i, e in enumerate(div_effects)}
    carry = {"div_dp": "dp", "div_wd": "wd"}.get(config.scenario, "div")
    return SyntheticStudy(
        conditions={**dp, **wd, **div},
        signature_of={name: carry for name in div} if carry != "div" else {},
        n_layers=config.n_layers,
        seeds=tuple(range(config.seeds)),
        noise=config.noise,
    )


def simulate_once(config: CalibrationConfig, rng: np.random.Generator) -> dict[str, float]:
    """Rates of every verdict in one simulated study (shares of the tests that fire)."""
    layers, _, _ = synthetic_tables(_spec(config, rng), rng=rng)
    metrics = ["alpha", "entropy", "log_norm", "log_spectral_norm", "stable_rank"]
    delta = delta_table(layers, metrics=metrics, align="layer_id")
    dd = delta_delta(delta)
    cond_layers = condition_layers(dd, metrics, "layer_id")
    scores = condition_scores(cond_layers, metrics)
    tests = category_tests(scores, metrics, rng=rng, n_perm=config.n_perm)
    tests = adjust_tables({"category_tests": tests})["category_tests"]
    means = category_mean_intervals(run_scores(dd, metrics), metrics)
    n_seeds = {str(c): float(config.seeds) for c in scores["condition"]}
    fp = fingerprint_table(cond_layers, metrics, "layer_id",
                           controls=delta[delta["condition"] == "bs"], n_seeds=n_seeds)  # fmt: skip
    out: dict[str, float] = {}
    for ref in ("dp", "wd"):
        rows = tests[
            (tests["a"] == "div") & (tests["b"] == ref) & tests["family"].str.startswith("primary")
        ]
        out[f"div–{ref} test p < 0.05"] = float((rows["p"] < 0.05).mean())
        out[f"div–{ref} diff CI excludes 0"] = float(
            ((rows["diff_ci_low"] > 0) | (rows["diff_ci_high"] < 0)).mean()
        )
        out[f"div–{ref} g CI excludes 0"] = float(
            ((rows["g_ci_low"] > 0) | (rows["g_ci_high"] < 0)).mean()
        )
    primary = tests[tests["family"].str.startswith("primary")]
    out["primary family: any Holm p < 0.05"] = float((primary["p_adj"] < 0.05).any())
    div_means = means[means["category"] == "div"]
    out["div mean CI excludes 0"] = float(
        ((div_means["ci_low"] > 0) | (div_means["ci_high"] < 0)).mean()
    )
    div_fp = fp[fp["category"] == "div"]["verdict"].astype(str)
    out["div fingerprint 'acts like dropout'"] = float((div_fp == "acts like dropout").mean())
    out["div fingerprint 'acts like weight decay'"] = float(
        (div_fp == "acts like weight decay").mean()
    )
    return out


def calibrate(config: CalibrationConfig, *, n_studies: int, seed: int = 0) -> pd.Series:
    """Mean over ``n_studies`` simulated studies of :func:`simulate_once`'s rates."""
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n_studies)]
    rows = [simulate_once(config, rng) for rng in rngs]
    return pd.DataFrame(rows).mean()


def truth(scenario: str) -> dict[str, bool]:
    """Whether each verdict of :func:`simulate_once` is true in ``scenario`` (True: the rate
    is a power; False: a false-positive rate)."""
    planted = scenario in ("div_dp", "div_wd")
    return {
        "div–dp test p < 0.05": scenario == "div_wd" or scenario == "div_null",
        "div–dp diff CI excludes 0": scenario == "div_wd" or scenario == "div_null",
        "div–dp g CI excludes 0": scenario == "div_wd" or scenario == "div_null",
        "div–wd test p < 0.05": scenario == "div_dp" or scenario == "div_null",
        "div–wd diff CI excludes 0": scenario == "div_dp" or scenario == "div_null",
        "div–wd g CI excludes 0": scenario == "div_dp" or scenario == "div_null",
        "primary family: any Holm p < 0.05": scenario != "null",
        "div mean CI excludes 0": planted,
        "div fingerprint 'acts like dropout'": scenario == "div_dp",
        "div fingerprint 'acts like weight decay'": scenario == "div_wd",
    }


def calibration_table(
    presets: Sequence[str], scenarios: Sequence[str], *, seeds: int, n_studies: int, seed: int = 0
) -> pd.DataFrame:
    """Long table: preset, layers, scenario, verdict, kind ("false positive"/"power"), rate."""
    rows = []
    for preset in presets:
        if preset not in PRESET_LAYERS:
            raise ConfigError(f"preset {preset!r} is not one of {', '.join(PRESET_LAYERS)}")
        for scenario in scenarios:
            config = CalibrationConfig(
                scenario=scenario, n_layers=PRESET_LAYERS[preset], seeds=seeds
            )
            rates = calibrate(config, n_studies=n_studies, seed=seed)
            log.info("%s %s: %s", preset, scenario, rates.round(3).to_dict())
            kinds = truth(scenario)
            for verdict, rate in rates.items():
                rows.append({"preset": preset, "layers": PRESET_LAYERS[preset], "scenario": scenario,
                             "verdict": verdict, "kind": "power" if kinds[verdict] else "false positive",
                             "rate": float(rate)})  # fmt: skip
    return pd.DataFrame(rows)
