"""Spectral analysis of weight matrices: ESD, power-law and MP fits, metrics, ``analyze()``.

Heavy work happens only when a function is called; importing this package is cheap.
"""

from weightspace.spectral.analyze import analyze, analyze_matrices, analyze_specs, columns
from weightspace.spectral.mp import MPFit, fit_mp
from weightspace.spectral.powerlaw import PowerLawFit, fit_power_law
from weightspace.spectral.summary import layer_counts, summarize

__all__ = [
    "MPFit",
    "PowerLawFit",
    "analyze",
    "analyze_matrices",
    "analyze_specs",
    "columns",
    "fit_mp",
    "fit_power_law",
    "layer_counts",
    "summarize",
]
