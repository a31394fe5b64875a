"""ESD figures of ``weightspace analyze --plot`` (a module of its own: it imports the report
package, which ``analyze`` without ``--plot`` never needs)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from weightspace.errors import ConfigError
from weightspace.report.esd import layer_eigenvalues, plot_esd_row
from weightspace.spectral.extract import iter_layers


def write_plots(source: Any, df: Any, plot_dir: Path, *, compat: str | None, layers: Any,
                min_evals: int) -> int:  # fmt: skip
    """One ESD PNG per successfully analysed layer; returns the number written."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ConfigError(
            f"--plot needs matplotlib ({err}); install the plot extra "
            "(pip install 'weightspace[plot]') or drop --plot"
        ) from None

    plot_dir.mkdir(parents=True, exist_ok=True)
    rows = {(int(r["layer_id"]), r["longname"]): r for r in df.to_dict("records")}
    written = 0
    for spec in iter_layers(source, layers=layers, min_evals=min_evals, compat=compat):
        row = rows.get((spec.layer_id, spec.longname))
        if spec.load is None or row is None or row["status"] != "success":
            continue
        evals = layer_eigenvalues(source, spec.longname, compat=compat == "ww")
        fig = plot_esd_row(evals, row)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.longname) or "root"
        fig.savefig(plot_dir / f"{spec.layer_id:03d}_{safe}.png", dpi=100)
        plt.close(fig)
        written += 1
    return written
