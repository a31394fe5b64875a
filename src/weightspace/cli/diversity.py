"""``weightspace diversity``: Vendi score, similarity and weighted Vendi score of a training set,
or (with ``--study``) the prediction check of a finished study."""

from __future__ import annotations

import json
import math
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from weightspace.cli._app import app, fail
from weightspace.data import load_dataset, stratified_subset
from weightspace.diversity import get_encoder, score_dataset
from weightspace.diversity.vendi import check_q
from weightspace.errors import WeightspaceError
from weightspace.store import CORRELATIONS_TABLE, DIVERSITY_TABLE
from weightspace.study.predict import prediction_check
from weightspace.synthetic import load_synthetic, mix
from weightspace.threads import set_threads
from weightspace.train.restore import load_run


class MixMode(str, Enum):
    REPLACE = "replace"
    ADD = "add"


def _fmt(x: float, digits: int = 4) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g}"


ROWS = (
    ("VS pixel", "vs_pixel", "vs_pixel_real"),
    ("VS embedding", "vs_emb", "vs_emb_real"),
    ("rho (paired)", "rho", None),
    ("rho (unpaired)", "rho_unpaired", None),
    ("MMD similarity", "mmd_sim", None),
    ("rho pixel (paired)", "rho_pixel", None),
    ("WVS = VS_emb * rho", "wvs", None),
    ("WVS (unpaired rho)", "wvs_unpaired", None),
)


@app.command("diversity")
def diversity(
    dataset: str = typer.Option("fashion-mnist", help="Dataset name (see weightspace train)."),
    split: str = typer.Option("train", help="Dataset split to score."),
    data_dir: Path | None = typer.Option(None, help="Directory holding the dataset files."),
    augment: str = typer.Option(
        "none", help="Augmentation policy (none, auto, rand, augmix, trivial, noise50, auto1...)."
    ),
    encoder: str | None = typer.Option(
        None,
        help="pixels | random-conv | baseline | clip-rn50 | clip-vit-b32 | resnet50 | "
        "efficientnet-lite0 (default: baseline with --run-dir or --study, else "
        "efficientnet-lite0).",
    ),
    run_dir: Path | None = typer.Option(
        None, help="Run directory of a trained baseline model (for --encoder baseline)."
    ),
    weights: Path | None = typer.Option(None, help="Local weights file for clip/resnet50."),
    synthetic: Path | None = typer.Option(
        None, help="Synthetic images (.npz with 'image'/'label', or a folder) to mix in."
    ),
    mode: MixMode = typer.Option(MixMode.REPLACE, help="How --synthetic is mixed in."),
    fraction: float = typer.Option(0.5, help="Synthetic fraction (replace: of the set; add: x n)."),
    draws: int = typer.Option(5, min=1, help="Independent augmentation draws."),
    n: int = typer.Option(2000, min=0, help="Stratified subset size scored (0 = all)."),
    q: str = typer.Option("1", help="Vendi order: 0, 0.5, 1 (Shannon), 2, inf ..."),
    seed: int = typer.Option(0, help="Seed of the subset, the draws and random encoders."),
    device: str = typer.Option("cpu", help="cpu | cuda | cuda:N."),
    threads: int | None = typer.Option(None, help="Torch/BLAS threads (default 1 per env)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the cache."),
    study: Path | None = typer.Option(
        None, help="Run the prediction check of this finished study instead."
    ),
    per_class: bool = typer.Option(False, "--per-class", help="Also print per-class VS."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Score the diversity of a (augmented / synthetic-mixed) training set: VS, rho and WVS."""
    try:
        set_threads(threads)
        qv = check_q(q)
        if study is not None:
            _study(study, encoder or "baseline", draws, n, qv, seed, device, not no_cache, as_json)
            return
        _single(
            dataset=dataset, split=split, data_dir=data_dir, augment=augment,
            encoder=encoder or ("baseline" if run_dir else "efficientnet-lite0"), run_dir=run_dir,
            weights=weights, synthetic=synthetic, mode=mode.value, fraction=fraction,
            draws=draws, n=n, q=qv, seed=seed, device=device, cache=not no_cache,
            as_json=as_json, per_class=per_class,
        )  # fmt: skip
    except WeightspaceError as err:
        raise fail(str(err)) from None


def _single(**kw: Any) -> None:
    ds = load_dataset(
        kw["dataset"],
        split=kw["split"],
        data_dir=None if kw["data_dir"] is None else kw["data_dir"],
    )
    other = None
    if kw["synthetic"] is not None:
        synth = load_synthetic(kw["synthetic"], like=ds)
        real = ds
        if kw["n"] and kw["n"] < len(ds):  # mix into the scored subset, not the whole set
            real = stratified_subset(ds, kw["n"], seed=kw["seed"])
        ds = real
        other = mix(real, synth, mode=kw["mode"], fraction=kw["fraction"], seed=kw["seed"]).data
    run = None if kw["run_dir"] is None else load_run(kw["run_dir"], device=kw["device"])
    enc = get_encoder(
        kw["encoder"], in_channels=ds.in_channels, image_size=ds.image_size[0],
        device=kw["device"], seed=kw["seed"], run=run, weights=kw["weights"],
    )  # fmt: skip
    res = score_dataset(
        ds, encoder=enc, augment=kw["augment"], other=other, draws=kw["draws"],
        seed=kw["seed"], n=kw["n"] or None, q=kw["q"], device=kw["device"], cache=kw["cache"],
    )  # fmt: skip
    summary = res.summary()
    classes = {ds.classes[c]: v for c, v in res.per_class_vs_emb.items()}
    if kw["as_json"]:
        typer.echo(json.dumps({**summary, "per_class_vs_emb": classes}, indent=2, default=str))
        return
    mix_note = f", synthetic {kw['mode']} {kw['fraction']:g}" if other is not None else ""
    typer.echo(
        f"{res.dataset}: n={res.n}, augment={res.augment}{mix_note}, encoder={res.encoder}, "
        f"q={_fmt(res.q)}, draws={res.draws}"
    )
    for label, key, real_key in ROWS:
        line = f"  {label:<20} {_fmt(summary[key]):>9} ± {_fmt(summary[key + '_std'], 2)}"
        if real_key:
            line += f"   (real data: {_fmt(summary[real_key])})"
        typer.echo(line)
    if kw["per_class"]:
        typer.echo("  per-class VS embedding (mean over draws):")
        for name, v in classes.items():
            typer.echo(f"    {name:<20} {_fmt(v)}")


def _study(
    study: Path, encoder: str, draws: int, n: int, q: float, seed: int, device: str,
    cache: bool, as_json: bool,
) -> None:  # fmt: skip
    res = prediction_check(
        study, encoder=encoder, draws=draws, seed=seed, n=n or None, q=q, device=device,
        cache=cache,
    )  # fmt: skip
    if as_json:
        typer.echo(res.correlations.to_json(orient="records", indent=2))
        return
    cols = ["condition", "category", "test_acc", "acc_gain", "vs_emb", "rho", "wvs", "affinity",
            "gl_diversity"]  # fmt: skip
    typer.echo(res.conditions[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    typer.echo("")
    corr = res.correlations[res.correlations["target"] == "acc_gain"]
    typer.echo("rank correlation with accuracy gain over the baseline (data conditions):")
    for r in corr.itertuples():
        typer.echo(
            f"  {r.stratum:<12} {r.score:<14} n={r.n:<3} spearman {_fmt(r.spearman, 3):>7} "
            f"[{_fmt(r.spearman_lo, 3)}, {_fmt(r.spearman_hi, 3)}]  p {_fmt(r.p, 3)}  "
            f"p_adj {_fmt(r.p_adj, 3)}  kendall {_fmt(r.kendall, 3):>7}"
        )
    if len(res.correlations):
        family = res.correlations.iloc[0]
        typer.echo(
            f"  family: {family['family']} — {int(family['n_family'])} tests (all targets); "
            "p_adj: Benjamini–Hochberg"
        )
    typer.echo(f"wrote {study / DIVERSITY_TABLE} and {study / CORRELATIONS_TABLE}")
