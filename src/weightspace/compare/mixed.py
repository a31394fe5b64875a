"""The mixed-model cross-check on a table of seed-averaged ΔΔ per condition × layer
(the model: :mod:`weightspace.stats.mixed`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pandas as pd

from weightspace.stats.mixed import MixedTerm, mixed_model

COLUMNS = ["metric", *(f.name for f in dataclasses.fields(MixedTerm))]


def mixed_model_table(cond_layers: pd.DataFrame, metrics: Sequence[str], key: str) -> pd.DataFrame:
    """Category effects (vs the alphabetically first category) per metric; NaN + reason
    when the model cannot be fitted."""
    rows: list[dict[str, object]] = []
    cell = cond_layers["dataset"].astype(str) + "|" + cond_layers[key].astype(str)
    unit = cond_layers["dataset"].astype(str) + "|" + cond_layers["condition"].astype(str)
    for metric in metrics:
        terms = mixed_model(cond_layers[metric].to_numpy(float), cell.to_numpy(),
                            unit.to_numpy(), cond_layers["category"].astype(str).to_numpy())  # fmt: skip
        rows.extend({"metric": metric, **dataclasses.asdict(t)} for t in terms)
    return pd.DataFrame(rows).reindex(columns=COLUMNS)
