"""Runs whose modules are analysed in parts (attention q/k/v) share a layer id per part."""

from __future__ import annotations

import numpy as np
import pandas as pd

from weightspace.compare import compare, normalize_layers
from weightspace.compare.simulate import PlantedStudy, planted_tables


def test_split_layers_are_matched_by_position() -> None:
    spec = PlantedStudy(conditions={"dp0.1": 1.0, "dp0.5": 2.0, "wd0.001": 1.5}, n_layers=6)
    layers, runs, _ = planted_tables(spec, rng=np.random.default_rng(0))
    # layer id 5 (block2.fc) becomes a fused projection analysed as q, k, v: one id, three rows
    fused = layers["layer_id"] == 5
    parts = []
    for tag, shift in (("q", 0.0), ("k", 0.01), ("v", 0.02)):
        part = layers[fused].copy()
        part["longname"] = "block2.attn." + tag
        part["log_norm"] = part["log_norm"] + shift
        parts.append(part)
    table = pd.concat([layers[~fused], *parts], ignore_index=True).sort_values(
        ["run_id", "snapshot", "layer_id"], kind="stable"
    )
    result = compare(table, protocol="default", n_perm=50, n_boot=50, runs=runs)
    dd = result.tables["delta_delta"]
    assert {"block2.attn.q", "block2.attn.k", "block2.attn.v"} <= set(dd["longname"])
    per_run = dd.groupby("run_id")["layer_id"]
    assert per_run.apply(lambda s: s.is_unique).all()
    assert per_run.nunique().eq(8).all()  # 5 plain layers + 3 parts
    norm = normalize_layers(table)
    assert set(norm.loc[norm["longname"].str.startswith("block2.attn"), "module_id"]) == {5}
