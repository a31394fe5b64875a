"""Where a study keeps everything, what a run's status is, and whether a run can be trusted.

Layout of a study directory::

    study.toml                      the spec the runs were planned from
    runs/<condition>__s<seed>__<run_id>/   one finished run (below)
    runs/<name>.failed.json         the record of a run that raised (retried by a rerun)
    runs/.<name>.incomplete-<pid>/  a run being written (removed when a killed study restarts)
    runs/.damaged/<name>.<time>/    a finished run found damaged, moved aside (never deleted)
    runs.parquet, layers.parquet    the study tables, rebuilt from runs/ by collection
    sharpness.parquet               Hessian traces of every run that measured them (collected)
    weight_delta.parquet            ΔW metrics and subspace overlap of every run (collected)
    dd.parquet                      ΔΔ per condition × layer (written by the comparison)
    compare/<protocol>/             comparison results: <table>.csv and compare.json
    compare/published/              the paper protocol on the published tables (text studies)
    diversity.parquet, diversity_correlations.parquet   the diversity prediction check
    synthetic/s<seed>/              the built-in generator's quality.csv, provenance.json and
                                    grid.png (images) or samples.csv (texts)
    report.html, figures/           the report and its figures (PNG, SVG)

Layout of a finished run directory::

    config.json              resolved configuration
    metrics.json             final metrics
    history.parquet          one row per epoch
    spectra_before.parquet   per-layer spectral table at initialisation
    spectra_after.parquet    per-layer spectral table after training
    spectra_epoch<k>.parquet optional snapshots every k epochs
    spectra_step<k>.parquet  optional snapshots every k optimizer steps
    sharpness.parquet        optional Hessian traces (step, trace, trace_se, ...)
    weight_delta.parquet     per layer: ESD metrics of ΔW = W_after − W_init, relative change
                             and top-k singular-subspace overlap (unless overlap_k = None)
    weights_init.safetensors, weights.safetensors   initial and final weights
    provenance.json          versions, device, seed, wall time
    MANIFEST.json            size and SHA-256 of every file above
    COMPLETE                 written last

Layout of a built-in generator's sample set (``$WEIGHTSPACE_CACHE/synthetic/<key>/``)::

    samples.npz              image (N, H, W, C) uint8, label (N,) — the import format
    confidence.npy           the filter classifier's intended-class confidence per sample
    quality.csv              per-class precision/recall/density/coverage and Vendi scores
    grid.png                 a sample grid, one row per class
    provenance.json          generator config, data hash, losses, versions, timings
"""

from __future__ import annotations

import enum
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from weightspace.store.files import COMPLETE, MANIFEST, read_json, sha256_file

log = logging.getLogger(__name__)

# study directory
SPEC_FILE = "study.toml"
RUNS_DIR = "runs"
RUNS_TABLE = "runs.parquet"
LAYERS_TABLE = "layers.parquet"
SHARPNESS_TABLE = "sharpness.parquet"  # the study's and each run's (same name)
WEIGHT_DELTA_TABLE = "weight_delta.parquet"  # the study's and each run's (same name)
DD_TABLE = "dd.parquet"
COMPARE_DIR = "compare"
COMPARE_FILE = "compare.json"  # in each compare/<protocol>/, beside the CSV tables
COMPARE_TABLE_SUFFIX = ".csv"  # compare/<protocol>/<table>.csv
PUBLISHED_COMPARE = "published"  # compare/published/: the published tables' paper protocol
DIVERSITY_TABLE = "diversity.parquet"
CORRELATIONS_TABLE = "diversity_correlations.parquet"
SYNTHETIC_DIR = "synthetic"
REPORT_FILE = "report.html"
FIGURES_DIR = "figures"  # beside the report: every figure as PNG and SVG
DAMAGED_DIR = ".damaged"
FAILED_SUFFIX = ".failed.json"

# run directory
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.parquet"
PROVENANCE_FILE = "provenance.json"
WEIGHTS_FILE = "weights.safetensors"
INIT_WEIGHTS_FILE = "weights_init.safetensors"
SNAPSHOT_PREFIX = "spectra_"
#: files every finished run must hold (checked also for runs written before manifests)
REQUIRED_FILES = (CONFIG_FILE, METRICS_FILE, "spectra_before.parquet", "spectra_after.parquet")

# a synthetic sample set (the built-in generator's cache; <study>/synthetic/s<seed>/)
SAMPLES_FILE = "samples.npz"
CONFIDENCE_FILE = "confidence.npy"
QUALITY_TABLE = "quality.csv"
SAMPLE_GRID_FILE = "grid.png"
TEXT_SAMPLES_TABLE = "samples.csv"  # a few generated texts per class (text studies)
#: what a study copies from the generator's cache into synthetic/s<seed>/ (images)
SHOWN_SYNTHETIC_FILES = (SAMPLE_GRID_FILE, QUALITY_TABLE, PROVENANCE_FILE)

SEP = "__"


class RunStatus(str, enum.Enum):
    """A planned run's state on disk; the value is what ``runs.parquet``'s ``status`` holds."""

    DONE = "done"  # COMPLETE marker and every file as its manifest says
    FAILED = "failed"  # the run raised; <name>.failed.json holds the error
    PENDING = "pending"  # not run yet (or moved aside as damaged)
    DAMAGED = "damaged"  # COMPLETE marker, but files missing or changed since

    @property
    def usable(self) -> bool:
        """Whether the run's results may enter a table, comparison or report."""
        return self is RunStatus.DONE


def snapshot_file(snapshot: str) -> str:
    """``"after"`` -> ``spectra_after.parquet``."""
    return f"{SNAPSHOT_PREFIX}{snapshot}.parquet"


def run_dir_name(condition: str, seed: int, run_id: str) -> str:
    return f"{condition}{SEP}s{seed}{SEP}{run_id}"


def parse_run_dir_name(name: str) -> tuple[str, int, str] | None:
    """``"divAuto__s1__ab12"`` -> ``("divAuto", 1, "ab12")``; ``None`` for other names."""
    parts = name.split(SEP)
    if len(parts) != 3 or not parts[1].startswith("s") or not parts[1][1:].isdigit():
        return None
    return parts[0], int(parts[1][1:]), parts[2]


def failed_path(run_dir: str | os.PathLike[str]) -> Path:
    run_dir = Path(run_dir)
    return run_dir.with_name(run_dir.name + FAILED_SUFFIX)


@dataclass(frozen=True)
class StudyPaths:
    """Every path of a study directory: ``StudyPaths(root).runs_table`` and so on."""

    root: Path

    def __init__(self, root: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "root", Path(root))

    @property
    def spec(self) -> Path:
        return self.root / SPEC_FILE

    @property
    def runs_dir(self) -> Path:
        return self.root / RUNS_DIR

    @property
    def runs_table(self) -> Path:
        return self.root / RUNS_TABLE

    @property
    def layers_table(self) -> Path:
        return self.root / LAYERS_TABLE

    @property
    def dd_table(self) -> Path:
        return self.root / DD_TABLE

    @property
    def compare_dir(self) -> Path:
        return self.root / COMPARE_DIR

    def compare_protocol_dir(self, protocol: str) -> Path:
        """Where the comparison of one protocol is stored: ``compare/<protocol>/``."""
        return self.compare_dir / protocol

    @property
    def published_compare_dir(self) -> Path:
        """The paper protocol on the published tables a text study is set beside."""
        return self.compare_dir / PUBLISHED_COMPARE

    @property
    def diversity_table(self) -> Path:
        return self.root / DIVERSITY_TABLE

    @property
    def correlations_table(self) -> Path:
        return self.root / CORRELATIONS_TABLE

    @property
    def synthetic_dir(self) -> Path:
        return self.root / SYNTHETIC_DIR

    def synthetic_seed_dir(self, seed: int) -> Path:
        """Where the built-in generator's quality and samples of seed ``seed`` are shown."""
        return self.synthetic_dir / f"s{seed}"

    def synthetic_seed_dirs(self) -> list[tuple[int, Path]]:
        """``(seed, folder)`` of every ``synthetic/s<seed>/`` the study holds, by seed."""
        found = []
        for path in self.synthetic_dir.glob("s*") if self.synthetic_dir.is_dir() else []:
            if path.is_dir() and path.name[1:].isdigit():
                found.append((int(path.name[1:]), path))
        return sorted(found)

    @property
    def report(self) -> Path:
        return self.root / REPORT_FILE

    @property
    def damaged_dir(self) -> Path:
        return self.runs_dir / DAMAGED_DIR

    def run_dir(self, condition: str, seed: int, run_id: str) -> Path:
        return self.runs_dir / run_dir_name(condition, seed, run_id)

    def is_study(self) -> bool:
        return self.layers_table.is_file() or self.runs_table.is_file()


def check_run(run_dir: str | os.PathLike[str], *, hashes: bool = True) -> list[str]:
    """What is wrong with a finished run directory (empty when it can be trusted).

    With ``MANIFEST.json`` every listed file must exist with its size (and, with ``hashes``,
    its SHA-256); without one (runs written before manifests) the required files must exist
    and be non-empty. A directory without the ``COMPLETE`` marker is not finished: ``["not
    finished"]``.
    """
    run_dir = Path(run_dir)
    if not (run_dir / COMPLETE).is_file():
        return ["not finished (no COMPLETE marker)"]
    problems: list[str] = []
    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        for name in REQUIRED_FILES:
            path = run_dir / name
            if not path.is_file():
                problems.append(f"{name} is missing")
            elif path.stat().st_size == 0:
                problems.append(f"{name} is empty")
        return problems
    try:
        files = read_json(manifest_path)["files"]
    except (ValueError, KeyError, TypeError) as err:
        return [f"{MANIFEST} cannot be read ({err})"]
    for name, entry in files.items():
        path = run_dir / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != entry["size"]:
            problems.append(f"{name} has {path.stat().st_size} bytes, expected {entry['size']}")
        elif hashes and sha256_file(path) != entry["sha256"]:
            problems.append(f"{name} has changed (SHA-256 differs from {MANIFEST})")
    return problems


def run_status(run_dir: str | os.PathLike[str], *, hashes: bool = False) -> RunStatus:
    """The one status check: ``DONE``, ``DAMAGED``, ``FAILED`` or ``PENDING``."""
    run_dir = Path(run_dir)
    if (run_dir / COMPLETE).is_file():
        return RunStatus.DAMAGED if check_run(run_dir, hashes=hashes) else RunStatus.DONE
    return RunStatus.FAILED if failed_path(run_dir).is_file() else RunStatus.PENDING


def move_aside(run_dir: str | os.PathLike[str]) -> Path:
    """Move a damaged run to ``runs/.damaged/<name>.<UTC time>`` (never deleted); return it."""
    run_dir = Path(run_dir)
    dest_dir = run_dir.parent / DAMAGED_DIR
    dest_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    dest = dest_dir / f"{run_dir.name}.{stamp}"
    n = 1
    while dest.exists():
        n += 1
        dest = dest_dir / f"{run_dir.name}.{stamp}-{n}"
    os.replace(run_dir, dest)
    return dest


def quarantine_damaged(run_dirs: list[Path]) -> list[tuple[Path, Path, list[str]]]:
    """Check every finished run of ``run_dirs`` (with hashes); move the damaged ones aside.

    Returns ``(run_dir, moved_to, problems)`` for each damaged run, and logs a warning.
    """
    moved = []
    for run_dir in run_dirs:
        if not (run_dir / COMPLETE).is_file():
            continue
        problems = check_run(run_dir)
        if problems:
            dest = move_aside(run_dir)
            log.warning(
                "finished run %s is damaged (%s); moved to %s and run again",
                run_dir.name,
                "; ".join(problems),
                dest,
            )
            moved.append((run_dir, dest, problems))
    return moved
