"""Simulated studies with known truth and realistic heterogeneity — the generator behind the
calibration tables, the power tool, tests and the report's demos.

A run's Δ (after − before) over P cells (metrics × layers) is ::

    Δ[c, s] = train + w[s] + μ[c] + σ[category(c)] · e[c, s],   e ~ N(0, C)

* ``train`` — what fine-tuning does anyway (cancels in every ΔΔ);
* ``w[s]`` — a shift shared by every run of seed ``s`` (same head, data order and subset),
  SD ``seed_shift`` relative to the run noise; 0 and large are both realistic;
* ``μ[c]`` — the condition's true ΔΔ: ``size[c] · (signature[k] + condition_sd · u[c])``
  with ``k`` the signature it carries and ``u[c]`` a condition's own deviation (conditions
  of one category are not all alike); zero for a no-effect condition;
* ``C`` — correlated noise: AR(1) across neighbouring layers (``layer_corr``) times an
  equicorrelation across metrics (``metric_corr``); ``σ[k]`` differs between categories.

Signatures and deviations are smooth random profiles with unit RMS per cell, so sizes read
as "RMS ΔΔ per cell in units of one baseline run's noise". Strengths follow the paper's
grid; with ``dose_trend`` the reference effects grow with the strength, otherwise their
sizes are drawn at random (a dose–response null). Runs also carry an accuracy (it falls
with the true log-norm change when ``acc_slope`` ≠ 0) and, when asked, the area of a
dynamics curve. Seeds may be unbalanced (``seeds_by_category``, ``drop_runs``).

:func:`simulate` returns a :class:`SimulatedStudy` (arrays plus the truth);
:meth:`SimulatedStudy.tables` writes the study's ``layers``/``runs`` tables so the
whole :func:`weightspace.compare.compare` path can run on it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from weightspace import store
from weightspace.compare.categories import BASELINE, DEFAULT_RULES, parse_strength
from weightspace.compare.delta import DEFAULT_METRICS
from weightspace.errors import ConfigError

SCENARIOS = ("null", "div_null", "div_dp", "div_wd", "div_mid", "div_equal_shape", "random")
DP_STRENGTHS = (0.1, 0.3, 0.5, 0.7)
WD_STRENGTHS = (1e-05, 5e-05, 0.0001, 0.0005, 0.001, 0.005)
_BEFORE = {"alpha": 4.0, "entropy": 0.9, "log_norm": 1.0, "log_spectral_norm": 0.2,
           "stable_rank": 10.0}  # fmt: skip


@dataclass(frozen=True)
class StudyShape:
    """What was run: conditions per category, seeds, layers and metrics."""

    dp: tuple[float, ...] = DP_STRENGTHS
    wd: tuple[float, ...] = WD_STRENGTHS
    div: int = 10
    seeds: int = 3
    baseline_seeds: int | None = None  # default: ``seeds``
    seeds_by_category: Mapping[str, int] = field(default_factory=dict)
    drop_runs: int = 0  # non-baseline runs lost at random (failed runs)
    n_layers: int = 34
    metrics: tuple[str, ...] = tuple(DEFAULT_METRICS)

    def __post_init__(self) -> None:
        if self.seeds < 1 or self.n_layers < 2 or self.div < 0:
            raise ConfigError(
                f"need seeds ≥ 1, n_layers ≥ 2, div ≥ 0; got {self.seeds}, {self.n_layers}, "
                f"{self.div}"
            )
        if self.baseline_seeds is not None and self.baseline_seeds < 1:
            raise ConfigError(f"baseline_seeds must be ≥ 1, got {self.baseline_seeds}")

    def conditions(self) -> dict[str, tuple[str, float]]:
        """condition → (category, strength); the baseline first."""
        out = {BASELINE: (BASELINE, 0.0)}
        out |= {f"dp{s}": ("dp", s) for s in self.dp}
        out |= {f"wd{s}": ("wd", s) for s in self.wd}
        out |= {f"div{i}": ("div", float(i)) for i in range(self.div)}
        return out

    def seeds_of(self, category: str) -> int:
        if category == BASELINE:
            return self.baseline_seeds or self.seeds
        return int(self.seeds_by_category.get(category, self.seeds))


@dataclass(frozen=True)
class Truth:
    """What the conditions really do (sizes: RMS ΔΔ per cell / one baseline run's noise).

    ``scenario``: ``null`` nothing has any effect; ``div_null`` dropout and weight decay
    have effects, data diversity none; ``div_dp`` / ``div_wd`` data diversity carries
    dropout's / weight decay's signature; ``div_mid`` it sits exactly half-way between the
    two centroids (θ = ½) plus an orthogonal part; ``div_equal_shape`` each data-diversity
    condition is equally aligned with both true centroids (equal cosines: the shape test's
    null) yet carries parts of both signatures and its own deviation — the cells share one
    noise scale, so this is also equal alignment in the noise-scaled space the comparison
    measures; ``random`` every non-baseline condition
    has its own random effect with no category pattern and no dose trend (a null for every
    between-category and dose–response question, not for "moved")."""

    scenario: str = "div_null"
    dp_size: float = 0.4
    wd_size: float = 0.4
    div_size: float = 0.3
    weak_references: float = 1.0  # multiplies the dropout effects (0.25: weak)
    condition_sd: float = 0.3
    dose_trend: bool = True
    acc_slope: float = 0.0

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ConfigError(f"scenario {self.scenario!r} is not one of {', '.join(SCENARIOS)}")


@dataclass(frozen=True)
class Noise:
    """How runs vary: correlated cells, unequal noise per category, seed shifts."""

    layer_corr: float = 0.6
    metric_corr: float = 0.4
    category_sd: Mapping[str, float] = field(
        default_factory=lambda: {BASELINE: 1.0, "dp": 1.4, "wd": 0.8, "div": 1.2}
    )
    seed_shift: float = 1.0
    acc_sd: float = 0.005  # run-to-run SD of accuracy
    area_sd: float = 1.0  # run-to-run SD of a dynamics area (its effects are the log-norm's)

    def __post_init__(self) -> None:
        if not (0 <= self.layer_corr < 1 and 0 <= self.metric_corr < 1):
            raise ConfigError("layer_corr and metric_corr must be in [0, 1)")


@dataclass(frozen=True)
class SimulatedStudy:
    """One simulated study: run labels, Δ per run (N, P), the true ΔΔ per condition and
    the outcomes, with the cells' metric and layer."""

    condition: np.ndarray  # (N,) str
    category: np.ndarray  # (N,) str
    seed: np.ndarray  # (N,) int
    strength: np.ndarray  # (N,) float
    delta: np.ndarray  # (N, P)
    metric: np.ndarray  # (P,)
    layer: np.ndarray  # (P,) int
    true_dd: dict[str, np.ndarray]  # condition → (P,) true ΔΔ
    categories: dict[str, str]
    acc: np.ndarray  # (N,)
    area: np.ndarray  # (N,)

    def tables(self, dataset: str = "simulated") -> tuple[pd.DataFrame, pd.DataFrame]:
        """(layers, runs) in the study tables' long format (docs/architecture.md)."""
        metrics = list(dict.fromkeys(self.metric))
        n_l = int(self.layer.max()) + 1
        before = np.array([_BEFORE.get(m, 1.0) for m in metrics])
        rows = []
        for r in range(len(self.condition)):
            run_id = f"{self.condition[r]}__s{self.seed[r]}"
            after = self.delta[r].reshape(len(metrics), n_l).T + before  # (L, M)
            for snapshot, values in (("before", np.tile(before, (n_l, 1))), ("after", after)):
                frame = pd.DataFrame(values, columns=metrics)
                frame.insert(0, "longname", [f"block{i}.fc" for i in range(n_l)])
                frame.insert(0, "name", "Linear")
                frame.insert(0, "layer_id", np.arange(n_l) * 2 + 1)
                frame.insert(0, "snapshot", snapshot)
                frame.insert(0, "seed", int(self.seed[r]))
                frame.insert(0, "category", str(self.category[r]))
                frame.insert(0, "condition", str(self.condition[r]))
                frame.insert(0, "run_id", run_id)
                rows.append(frame)
        layers = pd.concat(rows, ignore_index=True)
        layers["status"] = "success"
        layers.insert(0, "dataset", dataset)
        runs = pd.DataFrame({
            "dataset": dataset,
            "run_id": [f"{c}__s{s}" for c, s in zip(self.condition, self.seed, strict=True)],
            "condition": self.condition, "category": self.category, "seed": self.seed,
            "status": "ok", "strength": self.strength, "test_acc": self.acc,
            "test_ece": 0.05, "ood_acc": self.acc - 0.1,
        })  # fmt: skip
        return layers, runs

    def write(self, path: str | Path, dataset: str | None = None) -> Path:
        """Write ``layers.parquet`` and ``runs.parquet`` under ``path`` (a study folder)."""
        path = Path(path)
        _write_tables(path, *self.tables(dataset or path.name))
        return path


def _smooth(rng: np.random.Generator, n_layers: int, n_metrics: int) -> np.ndarray:
    """A smooth random profile over layers per metric, unit RMS per cell, (M·L,)."""
    x = np.linspace(0, 1, n_layers)
    freqs = np.arange(4)
    basis = np.cos(np.pi * freqs[:, None] * x[None, :])  # (4, L)
    coef = rng.standard_normal((n_metrics, 4)) / (1 + freqs)  # low frequencies dominate
    prof = (coef @ basis).ravel()
    return prof / math.sqrt(float(np.mean(prof**2)))


def noise_factor(noise: Noise, n_layers: int, n_metrics: int) -> np.ndarray:
    """A square root of the cell correlation ``C`` (metric equicorrelation ⊗ layer AR(1))."""
    i = np.arange(n_layers)
    layers = noise.layer_corr ** np.abs(i[:, None] - i[None, :])
    metrics = np.full((n_metrics, n_metrics), noise.metric_corr) + (1 - noise.metric_corr) * np.eye(
        n_metrics
    )
    return np.kron(np.linalg.cholesky(metrics), np.linalg.cholesky(layers))


def _true_effects(
    shape: StudyShape, truth: Truth, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    n_m, n_l = len(shape.metrics), shape.n_layers
    conditions = shape.conditions()
    sig = {k: _smooth(rng, n_l, n_m) for k in ("dp", "wd")}
    out = {BASELINE: np.zeros(n_m * n_l)}
    for kind, size in (("dp", truth.dp_size * truth.weak_references), ("wd", truth.wd_size)):
        names = [c for c, (k, _) in conditions.items() if k == kind]
        for rank, name in enumerate(names):
            if truth.scenario in ("null", "random"):
                scale = 0.0
            elif truth.dose_trend:
                scale = size * (rank + 1) / len(names)
            else:
                scale = size * rng.uniform(0.25, 1.0)
            out[name] = scale * (sig[kind] + truth.condition_sd * _smooth(rng, n_l, n_m))
    zero = np.zeros(n_m * n_l)
    c_dp = np.mean([out[c] for c, (k, _) in conditions.items() if k == "dp"] or [zero], axis=0)
    c_wd = np.mean([out[c] for c, (k, _) in conditions.items() if k == "wd"] or [zero], axis=0)
    for name, (kind, _) in conditions.items():
        if kind != "div":
            continue
        size = truth.div_size * rng.uniform(0.5, 1.5)
        own = truth.condition_sd * _smooth(rng, n_l, n_m)
        if truth.scenario in ("null", "div_null"):
            out[name] = np.zeros(n_m * n_l)
        elif truth.scenario == "div_dp":
            out[name] = size * (sig["dp"] + own)
        elif truth.scenario == "div_wd":
            out[name] = size * (sig["wd"] + own)
        elif truth.scenario == "div_mid":  # θ = ½ exactly, plus a part orthogonal to the axis
            axis = c_wd - c_dp
            extra = own - (own @ axis) / max(axis @ axis, 1e-300) * axis
            out[name] = 0.5 * (c_dp + c_wd) + truth.div_size * extra
        elif truth.scenario == "div_equal_shape":
            signatures = sig["dp"] + sig["wd"] + own
            out[name] = equally_aligned(size * signatures, c_dp, c_wd)
        else:
            out[name] = np.zeros(n_m * n_l)
    if truth.scenario == "random":
        for name, (kind, _) in conditions.items():
            if kind != BASELINE:
                out[name] = truth.div_size * _smooth(rng, n_l, n_m)
    return out


def simulate(
    shape: StudyShape, truth: Truth, noise: Noise, *, rng: np.random.Generator
) -> SimulatedStudy:
    """One simulated study (module docstring)."""
    n_m, n_l = len(shape.metrics), shape.n_layers
    conditions = shape.conditions()
    mu = _true_effects(shape, truth, rng)
    runs = [(c, s) for c, (k, _) in conditions.items() for s in range(shape.seeds_of(k))]
    if shape.drop_runs:
        droppable = [i for i, (c, _) in enumerate(runs) if c != BASELINE]
        lost = set(rng.choice(droppable, size=min(shape.drop_runs, len(droppable)), replace=False))
        runs = [r for i, r in enumerate(runs) if i not in lost]
    sd = {k: float(noise.category_sd.get(k, 1.0)) for k in ("bs", "dp", "wd", "div")}
    return draw(
        mu, {c: k for c, (k, _) in conditions.items()}, {c: v for c, (_, v) in conditions.items()},
        runs, metric=np.repeat(np.array(shape.metrics), n_l), layer=np.tile(np.arange(n_l), n_m),
        sd=sd, factor=noise_factor(noise, n_l, n_m), seed_shift=noise.seed_shift, rng=rng,
        acc_slope=truth.acc_slope, acc_sd=noise.acc_sd, area_sd=noise.area_sd,
    )  # fmt: skip


def draw(
    mu: Mapping[str, np.ndarray],
    categories: Mapping[str, str],
    strengths: Mapping[str, float],
    runs: Sequence[tuple[str, int]],
    *,
    metric: np.ndarray,
    layer: np.ndarray,
    sd: Mapping[str, float],
    factor: np.ndarray,
    seed_shift: float,
    rng: np.random.Generator,
    acc_slope: float = 0.0,
    acc_sd: float = 0.005,
    area_sd: float = 1.0,
) -> SimulatedStudy:
    """The runs ``(condition, seed)`` of a study whose conditions' true ΔΔ are ``mu`` (the
    baseline's is 0), with noise ``sd[category] · factor @ N(0, I)`` per run and a shared
    shift per seed (``seed_shift · factor @ N(0, I)``) — the one generator behind
    :func:`simulate` and the power tool (:mod:`weightspace.compare.power`)."""
    n_cells = factor.shape[0]
    n_seeds = max(s for _, s in runs) + 1
    shifts = seed_shift * (rng.standard_normal((n_seeds, n_cells)) @ factor.T)
    train = 0.1 * rng.standard_normal(n_cells)
    log_norm = metric == "log_norm" if (metric == "log_norm").any() else metric == metric[0]
    eps = rng.standard_normal((len(runs), n_cells)) @ factor.T
    delta = np.empty_like(eps)
    acc, area = np.empty(len(runs)), np.empty(len(runs))
    seed_acc = acc_sd * rng.standard_normal(n_seeds)
    seed_area = seed_shift * area_sd * rng.standard_normal(n_seeds)
    zero = np.zeros(n_cells)
    for r, (c, s) in enumerate(runs):
        k = categories[c]
        true = mu.get(c, zero)
        delta[r] = train + shifts[s] + true + sd.get(k, 1.0) * eps[r]
        shift = float(np.mean(true[log_norm]))
        acc[r] = 0.8 + acc_slope * shift + seed_acc[s] + acc_sd * rng.standard_normal()
        area[r] = shift + seed_area[s] + sd.get(k, 1.0) * area_sd * rng.standard_normal()
    names = np.array([c for c, _ in runs])
    return SimulatedStudy(
        condition=names,
        category=np.array([categories[c] for c in names]),
        seed=np.array([s for _, s in runs]),
        strength=np.array([float(strengths.get(c, math.nan)) for c in names]),
        delta=delta,
        metric=np.asarray(metric),
        layer=np.asarray(layer),
        true_dd={c: np.asarray(mu.get(c, zero)) for c in categories if c != BASELINE},
        categories=dict(categories),
        acc=acc,
        area=area,
    )


@dataclass(frozen=True)
class PlantedStudy:
    """A small study with hand-planted effects, for tests and examples: ``conditions``
    maps a name to its effect size (``bs`` is added with 0); ``signature_of`` names the
    category whose signature a condition carries (default: its own category by the
    default rules). Cells are independent, noise ``noise`` per cell, seed shifts
    ``seed_shift``; accuracy falls by ``0.1 · acc_slope`` per unit of planted log-norm."""

    conditions: Mapping[str, float]
    signature_of: Mapping[str, str] = field(default_factory=dict)
    n_layers: int = 12
    seeds: Sequence[int] = (0, 1, 2)
    noise: float = 0.01
    seed_shift: float = 0.05
    metrics: Sequence[str] = tuple(DEFAULT_METRICS)
    dataset: str = "synthetic"
    acc_slope: float = 2.0

    def __post_init__(self) -> None:
        if self.n_layers < 2:
            raise ConfigError(f"n_layers must be ≥ 2, got {self.n_layers}")
        if not self.seeds:
            raise ConfigError("seeds must hold at least one seed")
        if self.noise < 0 or self.seed_shift < 0:
            raise ConfigError(
                f"noise and seed_shift must be ≥ 0, got {self.noise}, {self.seed_shift}"
            )
        unknown = sorted(set(self.signature_of) - set(self.conditions))
        if unknown:
            raise ConfigError(f"signature_of names {unknown} that are not in conditions")


def planted_tables(
    spec: PlantedStudy, *, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    """(layers, runs, signatures) of a :class:`PlantedStudy` in the study tables' format;
    ``signatures[category]`` is the planted (n_layers, n_metrics) pattern, unit RMS."""
    n_l, metrics = spec.n_layers, list(spec.metrics)
    conditions = {BASELINE: 0.0, **dict(spec.conditions)}
    category = {c: DEFAULT_RULES.category(c) for c in conditions}
    carries = {c: spec.signature_of.get(c, category[c]) for c in conditions}
    signatures = {}
    for k in sorted(set(carries.values())):
        raw = rng.standard_normal((n_l, len(metrics)))
        signatures[k] = raw / np.sqrt(np.mean(raw**2))
    mu = {c: size * signatures[carries[c]].T.ravel() for c, size in conditions.items()}
    seeds = {s: i for i, s in enumerate(spec.seeds)}
    runs = [(c, seeds[s]) for c in conditions for s in spec.seeds]
    strengths = {c: parse_strength(c) if c != BASELINE else 0.0 for c in conditions}
    study = draw(mu, category, strengths, runs, metric=np.repeat(np.array(metrics), n_l),
                 layer=np.tile(np.arange(n_l), len(metrics)), sd={k: spec.noise for k in category.values()},
                 factor=np.eye(n_l * len(metrics)), seed_shift=spec.seed_shift, rng=rng,
                 acc_slope=-0.1 * spec.acc_slope, acc_sd=0.002)  # fmt: skip
    study = replace(study, seed=np.array(list(spec.seeds))[study.seed])
    layers, table = study.tables(spec.dataset)
    return layers, table, signatures


def write_planted_study(path: str | Path, spec: PlantedStudy, *, rng: np.random.Generator
                        ) -> dict[str, np.ndarray]:  # fmt: skip
    """Write ``layers.parquet`` and ``runs.parquet`` of a planted study under ``path``."""
    layers, runs, signatures = planted_tables(spec, rng=rng)
    _write_tables(Path(path), layers, runs)
    return signatures


def _write_tables(path: Path, layers: pd.DataFrame, runs: pd.DataFrame) -> None:
    path.mkdir(parents=True, exist_ok=True)
    paths = store.StudyPaths(path)
    store.write_table(paths.layers_table, layers.drop(columns="dataset"))
    store.write_table(paths.runs_table, runs.drop(columns="dataset"))


def equally_aligned(profile: np.ndarray, ref_a: np.ndarray, ref_b: np.ndarray) -> np.ndarray:
    """``profile`` without its part along ``â − b̂`` (the references' unit vectors): its
    cosines with ``ref_a`` and ``ref_b`` are then equal — the null of the shape test."""
    n_a, n_b = float(np.linalg.norm(ref_a)), float(np.linalg.norm(ref_b))
    if not (n_a > 0 and n_b > 0):
        return profile
    d = ref_a / n_a - ref_b / n_b
    out: np.ndarray = profile - (profile @ d) / max(float(d @ d), 1e-300) * d
    return out


def true_cosines(study: SimulatedStudy, target: Sequence[str]) -> tuple[float, float]:
    """The cosines of the mean true ΔΔ of ``target`` with the true dropout and
    weight-decay centroids (NaN where a profile is 0) — what the shape test compares."""
    dd = study.true_dd
    point = np.mean([dd[c] for c in target], 0)
    out = []
    for kind in ("dp", "wd"):
        ref = np.mean([dd[c] for c, k in study.categories.items() if k == kind], 0)
        norm = float(np.linalg.norm(point) * np.linalg.norm(ref))
        out.append(float(point @ ref) / norm if norm > 0 else math.nan)
    return out[0], out[1]


def true_theta(study: SimulatedStudy, target: Sequence[str], leave_out: str | None = None) -> float:
    """θ of the mean true ΔΔ of ``target`` on the true axis (the reference centroids
    without ``leave_out``), all cells on their noise scale — what a position estimates."""
    dd = study.true_dd
    dp = [c for c, k in study.categories.items() if k == "dp" and c != leave_out]
    wd = [c for c, k in study.categories.items() if k == "wd" and c != leave_out]
    if not dp or not wd:
        return math.nan
    c_dp, c_wd = np.mean([dd[c] for c in dp], 0), np.mean([dd[c] for c in wd], 0)
    axis = c_wd - c_dp
    point = np.mean([dd[c] for c in target], 0)
    return float((point - c_dp) @ axis / (axis @ axis)) if axis @ axis > 0 else math.nan
