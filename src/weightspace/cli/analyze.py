"""``weightspace analyze``: per-layer spectral metrics of a model file (or the built-in demo)."""

from __future__ import annotations

import math
import re
import time
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from weightspace.cli._app import app, fail, load
from weightspace.errors import ConfigError, WeightspaceError
from weightspace.spectral import analyze, summarize
from weightspace.store import write_table
from weightspace.threads import set_threads

DEMO = "demo"
TABLE_COLUMNS = [
    "layer_id",
    "longname",
    "alpha",
    "D",
    "log_norm",
    "stable_rank",
    "status",
    "warning",
    "reason",
]
REASON_WIDTH = 60  # the full text is in the --out table
OUT_SUFFIXES = (".csv", ".parquet", ".json")


class Compat(str, Enum):
    ww = "ww"


class Device(str, Enum):
    cpu = "cpu"
    cuda = "cuda"


def demo_model() -> Any:
    """A small CNN with fixed-seed random weights, so a new user can try ``analyze demo``.

    Every layer is Gaussian (a random matrix: large alpha, "under-trained") except ``fc1``,
    whose entries are Student-t with 2 degrees of freedom: a heavy-tailed spectrum like
    that of a trained layer, so the table shows the contrast.
    """
    from collections import OrderedDict

    import torch
    import torch.nn as nn

    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(1, 16, 3, padding=1),
            relu1=nn.ReLU(),
            conv2=nn.Conv2d(16, 32, 3, padding=1),
            bn=nn.BatchNorm2d(32),
            relu2=nn.ReLU(),
            pool=nn.AdaptiveAvgPool2d(4),
            flatten=nn.Flatten(),
            fc1=nn.Linear(32 * 16, 128),
            relu3=nn.ReLU(),
            fc2=nn.Linear(128, 10),
        )
    )
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim < 2:
                p.fill_(1.0 if name.startswith("bn.") and name.endswith("weight") else 0.0)
                continue
            w = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            if name == "fc1.weight":  # Student-t(2): normal / sqrt(chi²₂ / 2)
                chi2 = torch.randn(p.shape, generator=gen, dtype=torch.float64) ** 2
                chi2 = chi2 + torch.randn(p.shape, generator=gen, dtype=torch.float64) ** 2
                w = w / torch.sqrt(chi2 / 2)
            p.copy_(w / math.sqrt(p[0].numel()))
    return model


def _parse_layers(values: list[str] | None) -> list[int | str] | None:
    """``--layers 3 --layers fc,layer1.*`` -> [3, 'fc', 'layer1.*'] (digits become ids)."""
    if not values:
        return None
    out: list[int | str] = []
    for value in values:
        for item in (v.strip() for v in value.split(",")):
            if item:
                out.append(int(item) if re.fullmatch(r"\d+", item) else item)
    return out or None


def _check_out(out: Path | None) -> None:
    if out is not None and out.suffix.lower() not in OUT_SUFFIXES:
        raise ConfigError(
            f"--out {str(out)!r}: unknown table format {out.suffix or '(no suffix)'!r}; "
            f"use a file name ending in {', '.join(OUT_SUFFIXES)}"
        )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def format_table(df: Any) -> str:
    """The per-layer table printed on stdout: numbers right-aligned, text left-aligned."""
    text_cols = {"longname", "status", "warning", "reason"}
    cols = [c for c in TABLE_COLUMNS if c in df.columns]
    cells = {c: [_fmt(v) for v in df[c].tolist()] for c in cols}
    if "reason" in cells:  # why a row was skipped or failed
        cells["reason"] = [
            r if len(r) <= REASON_WIDTH else r[: REASON_WIDTH - 3] + "..." for r in cells["reason"]
        ]
    width = {c: max([len(c), *map(len, cells[c])]) for c in cols}

    def line(values: list[str]) -> str:
        parts = [
            v.ljust(width[c]) if c in text_cols else v.rjust(width[c])
            for c, v in zip(cols, values, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rows = [line(cols)] + [line([cells[c][i] for c in cols]) for i in range(len(df))]
    return "\n".join(rows)


class _Progress:
    """``progress(done, total, longname)``: one line per matrix on stderr, or a tqdm bar.

    ``lines`` (weights files and directories, where one matrix can take seconds): a line per
    analysed matrix with its time and the total so far, readable in a log file too. Otherwise
    a tqdm bar, opened on first use.
    """

    def __init__(self, *, lines: bool = False) -> None:
        self.bar: Any = None
        self.lines = lines
        self.start = self.last = time.perf_counter()

    def __call__(self, done: int, total: int, longname: str) -> None:
        if self.lines:
            now = time.perf_counter()
            typer.echo(
                f"analyze {done}/{total} {longname}: {now - self.last:.1f} s "
                f"({now - self.start:.1f} s total)",
                err=True,
            )
            self.last = now
            return
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="layer", desc="analyze", leave=False)
        self.bar.set_postfix_str(longname, refresh=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@app.command("analyze")
def analyze_cmd(
    path: str = typer.Argument(
        ...,
        help="A .safetensors, .pt/.pth/.bin (state dict) or .npz file, a directory of sharded "
        "*.safetensors, or 'demo' for a small built-in CNN.",
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write the table (.csv, .parquet, .json)."
    ),
    compat: Compat | None = typer.Option(
        None, "--compat", help="'ww': WeightWatcher 0.7.7 numbers."
    ),
    mp_fit: bool = typer.Option(
        False, "--mp-fit", help="Add the Marchenko-Pastur bulk fit columns."
    ),
    randomize: bool = typer.Option(False, "--randomize", help="Add the shuffled-weights control."),
    plot: Path | None = typer.Option(None, "--plot", help="Write one ESD PNG per layer into DIR."),
    device: Device = typer.Option(Device.cpu, "--device", help="Where eigenvalues are computed."),
    layers: list[str] | None = typer.Option(
        None,
        "--layers",
        help="Keep these layers: layer_ids, longnames or globs (repeat or comma-separate).",
    ),
    min_evals: int = typer.Option(8, "--min-evals", help="Skip layers with fewer eigenvalues."),
    seed: int = typer.Option(0, "--seed", help="Seed of the randomized control."),
    threads: int | None = typer.Option(
        None, "--threads", help="Torch/BLAS threads (default $WEIGHTSPACE_THREADS or all cores)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Per-layer spectral analysis (power-law alpha, norms, ranks) of a model's weights."""
    try:
        _analyze(path, out=out, compat=compat.value if compat else None, mp_fit=mp_fit,
                 randomize=randomize, plot=plot, device=device.value,
                 layers=_parse_layers(layers), min_evals=min_evals, seed=seed, threads=threads,
                 quiet=quiet)  # fmt: skip
    except WeightspaceError as err:
        raise fail(str(err)) from None


def _analyze(path: str, *, out: Path | None, compat: str | None, mp_fit: bool, randomize: bool,
             plot: Path | None, device: str, layers: Any, min_evals: int, seed: int,
             threads: int | None, quiet: bool) -> None:  # fmt: skip
    _check_out(out)
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("--device cuda, but torch sees no CUDA device; use --device cpu")
    set_threads(threads)
    source: Any = demo_model() if path == DEMO else path
    progress = None if quiet else _Progress(lines=path != DEMO)
    try:
        df = analyze(source, compat=compat, mp_fit=mp_fit, randomize=randomize, layers=layers,
                     min_evals=min_evals, device=device, seed=seed, progress=progress)  # fmt: skip
    finally:
        if progress is not None:
            progress.close()

    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_table(out, df)
    typer.echo(format_table(df))
    typer.echo("")
    summary = summarize(df)
    metrics = summary[~summary.index.astype(str).str.startswith("layers_")]
    typer.echo(metrics.to_string(float_format=lambda v: f"{v:.4g}"))
    counts = summary.attrs.get("counts", {})
    typer.echo(
        "layers: "
        + ", ".join(f"{n} {status}" for status, n in counts.items())
        + " (the summary covers successful fits only)"
    )
    if plot is not None:
        # the figures import the report package (and torch): only when asked for
        n = load("analyze_plots").write_plots(
            source, df, plot, compat=compat, layers=layers, min_evals=min_evals
        )
        typer.echo(f"\nwrote {n} ESD plots to {plot}")
    if out is not None:
        typer.echo(f"wrote {len(df)} rows to {out}")
