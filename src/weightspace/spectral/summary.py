"""Model-level summary of a per-layer table: only successful fits, means and medians."""

from __future__ import annotations

import pandas as pd

SUMMARY_METRICS = [
    "alpha", "alpha_weighted", "log_alpha_norm", "log_norm", "log_spectral_norm",
    "stable_rank", "entropy", "D", "mp_softrank", "num_spikes", "rand_ks",
]  # fmt: skip


def layer_counts(df: pd.DataFrame) -> dict[str, int]:
    """Number of rows per status: ``success``, ``failed``, ``skipped``."""
    status = df["status"] if "status" in df.columns else pd.Series([], dtype=str)
    return {k: int((status == k).sum()) for k in ("success", "failed", "skipped")}


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, median, std, min, max and count of the main metrics over successful layers.

    Failed and skipped rows are excluded (WeightWatcher averages its -1 failures in).
    Returns one row per metric present in ``df``; ``.attrs["counts"]`` holds
    :func:`layer_counts` and the table's last three rows repeat them as
    ``layers_success``/``layers_failed``/``layers_skipped`` (in the ``count`` column).
    """
    ok = df[df["status"] == "success"] if "status" in df.columns else df.iloc[0:0]
    rows = []
    for metric in SUMMARY_METRICS:
        if metric not in df.columns:
            continue
        vals = pd.to_numeric(ok[metric], errors="coerce").dropna()
        rows.append(
            {
                "metric": metric,
                "mean": vals.mean(),
                "median": vals.median(),
                "std": vals.std(),
                "min": vals.min(),
                "max": vals.max(),
                "count": len(vals),
            }
        )
    counts = layer_counts(df)
    for key, value in counts.items():
        rows.append({"metric": f"layers_{key}", "count": value})
    out = pd.DataFrame(rows, columns=["metric", "mean", "median", "std", "min", "max", "count"])
    out["count"] = out["count"].astype(int)
    out = out.set_index("metric")
    out.attrs["counts"] = counts
    return out
